"""Run notebooks one after another with papermill in one Jupyter kernel that stays up.

A sweep point run as its own papermill process spends most of its time starting: the Python
process, papermill, a fresh kernel, and the chapter's imports (torch, matplotlib, pandas, the
package), which on a busy 2-core machine cost more than the point's own computation. A
:class:`KernelRunner` keeps one papermill process and one kernel for many points:

* the runner is ``python -m qdloc.study.kernel_runner KERNEL CWD``, a process of its own
  session (an interrupt of the sweep reaches it only through the sweep's own handler); it starts
  the kernel in ``CWD`` and reads one request per line on its standard input (the input and
  output notebooks, the parameters, the log file), answering each with one line
  ``{"rc": 0 or 1}`` once the notebook has run;
* before every notebook but the first, the kernel's namespace is wiped
  (``InteractiveShell.reset(new_session=True)``: every name the previous notebook defined is
  gone, the execution count starts at 1 again), matplotlib's figures are closed and the working
  folder is set back to ``CWD``; modules already imported stay imported (that is the saving);
* a notebook that raises is reported as papermill's command line reports it (the log ends
  with the notebook's exception; ``PapermillExecutionError`` in the log); any other failure
  (a kernel that died, a reset that failed) is logged with its traceback and the kernel is
  replaced by a fresh one before the next request;
* an interrupt (SIGINT or SIGTERM) or the end of its standard input shuts the kernel down and
  ends the runner; a kernel whose runner was killed exits by itself (ipykernel watches its
  parent).

What a shared kernel does not reset: state kept inside imported modules (caches, global
random generators, matplotlib's ``rcParams``). A notebook that relies on such state being
fresh gets different results; ``qdloc sweep --kernel-per-point`` runs every point in a new
process instead, and the tests check that chapter 08's results are the same either way.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import signal
import subprocess
import sys
import traceback
from pathlib import Path
from typing import Any

__all__ = ["KernelRunner", "RESET_CODE"]

#: Run in the kernel before every notebook but the first (``{cwd!r}``: the runner's folder).
RESET_CODE = """\
get_ipython().reset(new_session=True)
import os as _qdloc_os, sys as _qdloc_sys
if "matplotlib.pyplot" in _qdloc_sys.modules:
    _qdloc_sys.modules["matplotlib.pyplot"].close("all")
_qdloc_os.chdir({cwd!r})
del _qdloc_os, _qdloc_sys
"""
#: Seconds a kernel may take to start, and a reset to finish.
START_TIMEOUT_S = 120.0


class KernelRunner:
    """A runner process with its kernel (see the module docstring); used from one thread.

    Parameters
    ----------
    kernel : str
        The Jupyter kernel's name.
    cwd : path
        The kernel's working folder (a notebook's relative paths start there).
    log_path : path
        Where the runner's own messages go (kept only when it failed: see :meth:`close`).
    """

    def __init__(self, kernel: str, cwd: str | Path, log_path: str | Path) -> None:
        self.kernel, self.cwd, self.log_path = kernel, str(cwd), Path(log_path)
        self.log_path.parent.mkdir(parents=True, exist_ok=True)
        with open(self.log_path, "w") as log:
            self.proc = subprocess.Popen(
                [sys.executable, "-m", "qdloc.study.kernel_runner", kernel, self.cwd],
                stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=log, text=True,
                start_new_session=True)  # signals reach it through the sweep only

    def alive(self) -> bool:
        """Whether the runner process is still running."""
        return self.proc.poll() is None

    def run(self, input_nb: str | Path, output_nb: str | Path, parameters: dict[str, Any],
            log: str | Path) -> int:
        """Run one notebook; return 0 (done) or 1 (failed; why is in ``log``), -1 if the runner ended."""
        req = {"input": str(input_nb), "output": str(output_nb), "parameters": parameters,
               "log": str(log)}
        try:
            self.proc.stdin.write(json.dumps(req) + "\n")
            self.proc.stdin.flush()
            line = self.proc.stdout.readline()
        except (BrokenPipeError, OSError, ValueError):
            line = ""
        if not line:
            with contextlib.suppress(OSError), open(log, "a") as f:
                f.write(f"the kernel runner ended (status {self.proc.poll()}); see {self.log_path}\n")
            return -1
        return int(json.loads(line)["rc"])

    def close(self, timeout: float = 30.0) -> None:
        """End the runner (its kernel shuts down with it); its log is kept only if it failed."""
        with contextlib.suppress(OSError, ValueError):
            self.proc.stdin.close()
        try:
            code = self.proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.proc.pid, signal.SIGKILL)
            code = self.proc.wait()
        with contextlib.suppress(OSError, ValueError):
            self.proc.stdout.close()
        if code in (0, 130):  # ended, or interrupted: nothing to read
            self.log_path.unlink(missing_ok=True)


# --------------------------------------------------------------------------
# The runner process
# --------------------------------------------------------------------------
def _start_kernel(kernel: str) -> Any:
    """A started kernel's manager; every client made from it is recorded (to be stopped).

    An asynchronous manager, as papermill's own: with a blocking one, nbclient's wait for
    output would block the loop that notices a kernel that died.
    """
    from jupyter_client.manager import start_new_async_kernel  # the runner process only
    from jupyter_core.utils import run_sync

    km, kc = run_sync(start_new_async_kernel)(kernel_name=kernel, startup_timeout=START_TIMEOUT_S)
    kc.stop_channels()
    made, make = [], km.client

    def client(**kw: Any) -> Any:
        c = make(**kw)
        made.append(c)
        return c

    km.client, km.qdloc_clients = client, made
    return km


def _stop_clients(km: Any) -> None:
    """Stop the channels (threads, sockets) of the clients papermill made for the last notebook."""
    for c in km.qdloc_clients:
        with contextlib.suppress(Exception):
            c.stop_channels()
    km.qdloc_clients.clear()


def _stop_kernel(km: Any) -> None:
    from jupyter_core.utils import run_sync

    _stop_clients(km)
    with contextlib.suppress(Exception):
        run_sync(km.shutdown_kernel)(now=True)


def _reset(km: Any, cwd: str) -> None:
    """Wipe the kernel's namespace (:data:`RESET_CODE`); raise if it did not work."""
    kc = km.blocking_client()
    km.qdloc_clients.append(kc)
    kc.start_channels()
    kc.wait_for_ready(timeout=START_TIMEOUT_S)
    reply = kc.execute_interactive(RESET_CODE.format(cwd=cwd), store_history=False,
                                   timeout=START_TIMEOUT_S, output_hook=lambda msg: None)
    if reply["content"]["status"] != "ok":
        raise RuntimeError(f"resetting the kernel failed: {reply['content'].get('evalue', '')}")


def _execute(req: dict[str, Any], km: Any, kernel: str) -> tuple[int, bool]:
    """Run one request; return ``(rc, whether the kernel must be replaced)``."""
    import papermill  # imported in the runner process only
    from papermill.exceptions import PapermillExecutionError

    logger = logging.getLogger("papermill")
    with open(req["log"], "a") as log:
        handler = logging.StreamHandler(log)
        logger.addHandler(handler)
        try:
            papermill.execute_notebook(req["input"], req["output"], parameters=req["parameters"],
                                       kernel_name=kernel, progress_bar=False, log_output=False,
                                       km=km)
            return 0, False
        except PapermillExecutionError as exc:  # the notebook's own exception, as the CLI ends
            log.write(f"{type(exc).__name__}: {exc}\n{exc.ename}: {exc.evalue}\n")
            return 1, False
        except Exception:  # a kernel that died, a timeout: the kernel is replaced
            log.write(traceback.format_exc())
            return 1, True
        finally:
            logger.removeHandler(handler)


def _raise_interrupt(signum: int, frame: Any) -> None:
    raise KeyboardInterrupt


def serve(kernel: str, cwd: str) -> int:
    """The runner's loop (``python -m qdloc.study.kernel_runner KERNEL CWD``); its exit status."""
    answer = os.fdopen(os.dup(1), "w", buffering=1)
    os.dup2(2, 1)  # anything printed goes to the runner's log, never into the answers
    signal.signal(signal.SIGTERM, _raise_interrupt)
    signal.signal(signal.SIGINT, _raise_interrupt)
    os.chdir(cwd)
    km = None
    try:
        used = False
        for line in sys.stdin:
            req = json.loads(line)
            try:
                if km is None:
                    km = _start_kernel(kernel)
                    used = False
                elif used:
                    _reset(km, cwd)
            except Exception:  # could not start or reset: the request fails, a fresh kernel next
                with open(req["log"], "a") as log:
                    log.write(traceback.format_exc())
                if km is not None:
                    _stop_kernel(km)
                km = None
                answer.write(json.dumps({"rc": 1}) + "\n")
                continue
            used = True
            rc, replace = _execute(req, km, kernel)
            _stop_clients(km)
            if replace:
                _stop_kernel(km)
                km = None
            answer.write(json.dumps({"rc": rc}) + "\n")
    except KeyboardInterrupt:
        return 130
    finally:
        if km is not None:
            _stop_kernel(km)
    return 0


if __name__ == "__main__":
    if len(sys.argv) != 3:
        print("usage: python -m qdloc.study.kernel_runner KERNEL CWD", file=sys.stderr)
        sys.exit(2)
    sys.exit(serve(sys.argv[1], sys.argv[2]))
