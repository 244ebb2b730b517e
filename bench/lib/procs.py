"""Starting and stopping the servers, /proc accounting, and wrk."""

import os
import re
import signal
import socket
import subprocess
import time
import urllib.error
import urllib.request

CLK_TCK = os.sysconf("SC_CLK_TCK")


def free_port():
    """An ephemeral port nobody holds right now (the kernel picks it)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Procs:
    """The processes this run started; `stop_all` ends them by PID, newest first."""

    def __init__(self, logdir, pin_cpu=None):
        self.logdir = logdir
        self.pin_cpu = pin_cpu
        self.started = []

    def start(self, name, argv, cwd=None, env=None):
        if self.pin_cpu is not None:
            argv = ["taskset", "-c", str(self.pin_cpu)] + argv
        log = open(os.path.join(self.logdir, name + ".log"), "wb")
        # Own process group: stopping it also stops what it forked (nginx workers outlived
        # their master otherwise).
        p = subprocess.Popen(argv, cwd=cwd, env=env, stdout=log, stderr=subprocess.STDOUT,
                             stdin=subprocess.DEVNULL, start_new_session=True)
        log.close()
        self.started.append((name, p))
        return p

    def stop_all(self):
        def signal_group(p, sig):
            try:
                os.killpg(p.pid, sig)
            except (ProcessLookupError, PermissionError):
                pass

        for _, p in reversed(self.started):
            signal_group(p, signal.SIGTERM)
        deadline = time.time() + 10
        for _, p in reversed(self.started):
            try:
                p.wait(timeout=max(0.1, deadline - time.time()))
            except subprocess.TimeoutExpired:
                p.kill()
                p.wait()
            # Whatever of the group is left (forked workers) goes too.
            signal_group(p, signal.SIGKILL)
        self.started = []

    def log_tail(self, name, n=20):
        try:
            with open(os.path.join(self.logdir, name + ".log"), errors="replace") as f:
                return "".join(f.readlines()[-n:])
        except OSError:
            return ""


def wait_port(port, proc, timeout=30):
    """Poll until something accepts on `port`; fail early if `proc` exits."""
    deadline = time.time() + timeout
    while time.time() < deadline:
        if proc is not None and proc.poll() is not None:
            raise RuntimeError(f"process exited with {proc.returncode} before port {port} opened")
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                return
        except OSError:
            time.sleep(0.05)
    raise RuntimeError(f"nothing listens on 127.0.0.1:{port} after {timeout}s")


def probe(url, headers):
    """One request: (status, headers, body) or (None, None, error text)."""
    req = urllib.request.Request(url, headers=headers)
    try:
        with urllib.request.urlopen(req, timeout=5) as r:
            return r.status, dict(r.headers), r.read()
    except urllib.error.HTTPError as e:
        return e.code, dict(e.headers), e.read()
    except OSError as e:
        return None, None, str(e)


def children(pid):
    """Direct children of `pid` (nginx workers)."""
    out = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat") as f:
                stat = f.read()
        except OSError:
            continue
        fields = stat[stat.rfind(")") + 2:].split()
        if int(fields[1]) == pid:
            out.append(int(entry))
    return out


def cpu_seconds(pids):
    """utime + stime of `pids` (all threads), in seconds."""
    total = 0
    for pid in pids:
        try:
            with open(f"/proc/{pid}/stat") as f:
                stat = f.read()
        except OSError:
            continue
        fields = stat[stat.rfind(")") + 2:].split()
        # Fields 14 and 15 of stat(5), counted from the state field (3rd) here.
        total += int(fields[11]) + int(fields[12])
    return total / CLK_TCK


def status_kb(pids, key):
    """Sum of a /proc/<pid>/status field (VmHWM, VmRSS) in kB."""
    total = 0
    for pid in pids:
        try:
            with open(f"/proc/{pid}/status") as f:
                for line in f:
                    if line.startswith(key + ":"):
                        total += int(line.split()[1])
        except OSError:
            continue
    return total


_UNITS = {"us": 1e-3, "ms": 1.0, "s": 1e3, "m": 60e3}


def _ms(text):
    m = re.match(r"([0-9.]+)(us|ms|s|m)$", text)
    return float(m.group(1)) * _UNITS[m.group(2)] if m else None


def parse_wrk(out):
    """rps, p50/p99 (ms), requests, non-2xx, socket errors from `wrk --latency` output."""
    r = {"rps": 0.0, "p50_ms": None, "p99_ms": None, "requests": 0, "non2xx": 0, "errors": 0}
    for line in out.splitlines():
        line = line.strip()
        if m := re.match(r"Requests/sec:\s+([0-9.]+)", line):
            r["rps"] = float(m.group(1))
        elif m := re.match(r"(50|99)(?:\.000)?%\s+(\S+)", line):
            r[f"p{m.group(1)}_ms"] = _ms(m.group(2))
        elif m := re.match(r"(\d+) requests in", line):
            r["requests"] = int(m.group(1))
        elif m := re.match(r"Non-2xx or 3xx responses:\s+(\d+)", line):
            r["non2xx"] = int(m.group(1))
        elif line.startswith("Socket errors:"):
            r["errors"] = sum(int(x) for x in re.findall(r"\d+", line))
    return r


def run_wrk(url, headers, connections, duration, wrk_cpu=None):
    threads = max(1, min(2, connections))
    # wrk takes whole seconds only (`-d 4.0s` runs for 0 s).
    argv = ["wrk", "-t", str(threads), "-c", str(connections), "-d", f"{max(1, round(duration))}s",
            "--latency", "--timeout", "5s"]
    for k, v in headers.items():
        argv += ["-H", f"{k}: {v}"]
    argv.append(url)
    if wrk_cpu is not None:
        argv = ["taskset", "-c", str(wrk_cpu)] + argv
    done = subprocess.run(argv, capture_output=True, text=True, timeout=duration + 60)
    return parse_wrk(done.stdout), done.stdout + done.stderr
