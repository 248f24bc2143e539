"""Output redirected at the file-descriptor level: what TensorFlow's C++, absl and a JVM write."""

import os
import subprocess
import sys

from hyperopt_nas.log_files import output_to


def test_output_goes_to_the_log_for_a_while_and_children_keep_writing_there(tmp_path, capfd):
    log = tmp_path / "spark.log"
    with output_to(log):
        os.write(1, b"out\n")
        os.write(2, b"err\n")
        child = subprocess.Popen(["sh", "-c", "sleep 0.5; echo from-the-child"])
    os.write(1, b"back on the console\n")
    child.wait(timeout=30)
    assert log.read_text().splitlines() == ["out", "err", "from-the-child"]
    assert capfd.readouterr().out == "back on the console\n"


def test_only_the_named_descriptors_move(tmp_path, capfd):
    log = tmp_path / "tensorflow.log"
    with output_to(log, fds=(2,)):
        os.write(1, b"stays\n")
        os.write(2, b"moves\n")
    assert log.read_text() == "moves\n" and capfd.readouterr().out == "stays\n"


def test_a_worker_sends_its_output_to_the_log_for_good(tmp_path):
    log = tmp_path / "tensorflow.log"
    code = ("import os, sys; from hyperopt_nas.log_files import send_output_to; "
            f"send_output_to({str(log)!r}); os.write(2, b'absl\\n'); print('python')")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         timeout=60)
    assert out.returncode == 0 and out.stdout == out.stderr == ""
    assert log.read_text().splitlines() == ["absl", "python"]
