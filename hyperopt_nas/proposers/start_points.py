"""The space file's ``START_POINTS``, tried before any other proposer's points."""

from __future__ import annotations

from hyperopt_nas.proposers.base import Pace, Proposer, new_doc
from hyperopt_nas.space_files import SpaceFile, same_point
from hyperopt_nas.trial_store import to_jsonable


class StartPoints(Proposer):
    """The START_POINTS that no trial has tried yet, in their order, then ``then``'s proposals.
    Restored and running trials count as tried, so no start point is run twice."""

    def __init__(self, then: Proposer, space_file: SpaceFile):
        self.then, self.space_file, self.start_vals = then, space_file, space_file.start_vals
        self.proposed: dict[int, int] = {}  # trial id -> index in START_POINTS
        self.all_tried = False

    @property
    def min_observations(self) -> int:
        return self.then.min_observations

    def untried(self, tried) -> list[int]:
        if self.all_tried:  # ``tried`` only grows during a run: no need to look again
            return []
        tried = [to_jsonable(vals) for vals in tried]
        untried = [i for i, vals in enumerate(self.start_vals)
                   if not any(same_point(vals, t) for t in tried)]
        self.all_tried = not untried
        return untried

    def propose(self, new_id, domain, trials, seed, tried):
        untried = self.untried(tried)
        if not untried:
            return self.then.propose(new_id, domain, trials, seed, tried)
        self.proposed[new_id] = untried[0]
        return new_doc(trials, new_id, self.start_vals[untried[0]], self.space_file.params,
                       domain)

    def tags(self, new_id):
        tags = self.then.tags(new_id)
        if new_id in self.proposed:
            tags["start_point"] = self.proposed[new_id]
        return tags

    def after_trial(self, pace: Pace) -> None:
        self.then.after_trial(pace)

    def observe(self, vals, measured) -> None:
        self.then.observe(vals, measured)
