#!/usr/bin/env python3
"""A stand-in for systemd's side of sd_notify(3) and the file descriptor store, for netns tests.

    service-manager.py LOG -- COMMAND [ARGS...]

Runs COMMAND as a Type=notify service would run under systemd: NOTIFY_SOCKET set, WATCHDOG_USEC
(2 s) and WATCHDOG_PID set, and on every start the file descriptors kept with FDSTORE=1 handed
over as LISTEN_FDS/LISTEN_FDNAMES/LISTEN_PID at fd 3 onwards, as systemd 252 does. It writes one
line per event to LOG, each "MONOTONIC_SECONDS EVENT DETAIL":
    started PID / exited STATUS / notify STATE (each line of a message) / stored NAME /
    duplicate NAME (an fd the store already holds, ignored) / removed NAME / handed NAME
Signals: SIGUSR1 restarts the service (SIGTERM, wait, start), SIGUSR2 crashes it (SIGKILL, wait,
start), SIGTERM stops it and exits. STORE_STRAY=1 in the environment: the first start also gets
a stray fd named "tap-gone" (a tunnel that vanished while the service was down).
"""
import array
import os
import signal
import socket
import sys
import time

WATCHDOG_USEC = 2_000_000


def log(out, event, detail=""):
    out.write(f"{time.monotonic():.6f} {event} {detail}\n")
    out.flush()


def same_file(a, b):
    sa, sb = os.fstat(a), os.fstat(b)
    return (sa.st_dev, sa.st_ino) == (sb.st_dev, sb.st_ino)


def main():
    log_path = sys.argv[1]
    command = sys.argv[sys.argv.index("--") + 1:]
    out = open(log_path, "a", buffering=1)
    notify_path = log_path + ".notify"
    if os.path.exists(notify_path):
        os.unlink(notify_path)
    notify = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    notify.bind(notify_path)
    store = []  # (name, fd), in the order kept
    if os.environ.get("STORE_STRAY"):
        store.append(("tap-gone", os.open("/dev/null", os.O_RDONLY)))
    requests = []
    for sig in (signal.SIGUSR1, signal.SIGUSR2, signal.SIGTERM):
        signal.signal(sig, lambda s, _f: requests.append(s))

    def start():
        pid = os.fork()
        if pid == 0:
            env = dict(os.environ, NOTIFY_SOCKET=notify_path, WATCHDOG_USEC=str(WATCHDOG_USEC),
                       WATCHDOG_PID=str(os.getpid()))
            env.pop("STORE_STRAY", None)
            if store:
                # Out of the way first, then into place at 3, 4, ...
                high = [os.dup(fd) for _, fd in store]
                moved = [os.dup2(fd, 100 + i, inheritable=True) for i, fd in enumerate(high)]
                for i, fd in enumerate(moved):
                    os.dup2(fd, 3 + i, inheritable=True)
                env.update(LISTEN_FDS=str(len(store)), LISTEN_PID=str(os.getpid()),
                           LISTEN_FDNAMES=":".join(name for name, _ in store))
            os.execvpe(command[0], command, env)
        log(out, "started", pid)
        for name, _ in store:
            log(out, "handed", name)
        return pid

    def receive():
        fds_size = socket.CMSG_SPACE(16 * array.array("i").itemsize)
        while True:
            try:
                data, ancillary, _flags, _addr = notify.recvmsg(4096, fds_size, socket.MSG_DONTWAIT)
            except BlockingIOError:
                return
            fds = array.array("i")
            for level, kind, payload in ancillary:
                if level == socket.SOL_SOCKET and kind == socket.SCM_RIGHTS:
                    fds.frombytes(payload[: len(payload) - len(payload) % fds.itemsize])
            fields = dict(line.split("=", 1) for line in data.decode().splitlines() if "=" in line)
            for line in data.decode().splitlines():
                log(out, "notify", line)
            name = fields.get("FDNAME", "")
            if fields.get("FDSTORE") == "1":
                for fd in fds:
                    if any(same_file(fd, kept) for _, kept in store):
                        log(out, "duplicate", name)
                        os.close(fd)
                    else:
                        store.append((name, fd))
                        log(out, "stored", name)
            else:
                for fd in fds:
                    os.close(fd)
            if fields.get("FDSTOREREMOVE") == "1":
                for kept_name, fd in [entry for entry in store if entry[0] == name]:
                    os.close(fd)
                    store.remove((kept_name, fd))
                    log(out, "removed", name)

    pid = start()
    while True:
        receive()
        done, status = os.waitpid(pid, os.WNOHANG)
        if done:
            log(out, "exited", status)
            receive()
            if not requests:
                return 1
        while requests:
            sig = requests.pop(0)
            if sig == signal.SIGTERM:
                if not done:
                    os.kill(pid, signal.SIGTERM)
                    os.waitpid(pid, 0)
                    log(out, "exited", "SIGTERM")
                receive()
                return 0
            if not done:
                os.kill(pid, signal.SIGTERM if sig == signal.SIGUSR1 else signal.SIGKILL)
                _, status = os.waitpid(pid, 0)
                log(out, "exited", status)
            receive()
            pid = start()
        time.sleep(0.01)


if __name__ == "__main__":
    sys.exit(main())
