"""compress: shrink a Keras classifier until it fits a microcontroller, then ship it as TFLite Micro firmware."""
import contextlib
import logging
import os
import sys
import tempfile
import warnings

# tfmot does not support Keras 3: every TensorFlow import in this package must see the legacy Keras.
os.environ.setdefault("TF_USE_LEGACY_KERAS", "1")
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
# TensorFlow 2.21's oneDNN kernels segfault training fer's mini-Xception (64x64x1, separable convs, residual adds):
# issue 26 measured exit 139 with oneDNN on and exit 0 with TF_ENABLE_ONEDNN_OPTS=0. On an AVX2-only AMD EPYC both
# exit 0 (the real fer model and a rebuilt one, 9 runs), so the crash depends on the CPU's oneDNN code path. We turn
# oneDNN off rather than cap TensorFlow below 2.21: the switch is the one fix shown to work, while a cap pins users
# to versions a fresh install no longer gets. A tiny deterministic fit's losses move by 1.2e-7 at most (< 1e-6).
# A user who sets the variable keeps their value.
os.environ.setdefault("TF_ENABLE_ONEDNN_OPTS", "0")

__version__ = "0.1.0"


class CompressError(Exception):
    """A problem with the user's input or environment: the CLI prints it as one line and exits non-zero."""


class CandidateError(CompressError):
    """A failure of one model's own training (its loss diverged): a search journals the candidate as failed and
    goes on; anywhere else (the baseline, `train`, a fine-tune) it is one line like any CompressError."""


QUIET_ENV = "COMPRESS_QUIET"


@contextlib.contextmanager
def quiet(verbose: bool = False):
    """Unless verbose: no TensorFlow, absl, CUDA, oneDNN, TFLite or converter lines and no Python warnings.

    TensorFlow's C++ side writes to file descriptor 2 itself, some lines before any log level applies, so
    while the block runs fd 2 goes to a scratch file and sys.stderr (our own messages) to a copy of the
    real stderr. The swap happens only when sys.stderr is the process's own (not a test's capture).
    """
    if verbose:
        yield
        return
    os.environ["TF_CPP_MIN_LOG_LEVEL"] = "3"  # read when TensorFlow is first imported, later in this block
    os.environ[QUIET_ENV] = "1"  # worker processes (--executor) inherit it and silence themselves
    for name in ("tensorflow", "absl", "h5py"):
        logging.getLogger(name).setLevel(logging.ERROR)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        own = sys.stderr is sys.__stderr__ and sys.stderr is not None and _fd_of(sys.stderr) == 2
        with (_c_stderr_silenced() if own else contextlib.nullcontext()):
            yield


def _fd_of(stream) -> int | None:
    try:
        return stream.fileno()
    except (AttributeError, OSError, ValueError):
        return None


@contextlib.contextmanager
def _c_stderr_silenced():
    sys.stderr.flush()
    saved = os.dup(2)
    ours = os.fdopen(os.dup(saved), "w", buffering=1, encoding=sys.stderr.encoding, errors="backslashreplace")
    with tempfile.TemporaryFile() as sink:
        os.dup2(sink.fileno(), 2)
        sys.stderr = ours
        try:
            yield
        finally:
            ours.flush()
            os.dup2(saved, 2)
            os.close(saved)
            sys.stderr = sys.__stderr__
            ours.close()
