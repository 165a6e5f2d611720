#!/usr/bin/python3
"""memload's control channel (guest ttyS1, a unix socket libvirt binds; guest/README.md): one
line out, memload's one-line answer back.

  memload_ctl.py SOCKET LINE [TIMEOUT_S]   prints the answer; exit 0 if it starts with OK

Used by scripts/lib/tiny-guest.sh (tiny_guest_send) and bench/autoballoon/conductor.py (send).
"""
import socket
import sys
import time


class SendError(Exception):
    pass


def send(path, line, timeout=15.0, retry_s=0.1):
    """Connect (QEMU listens once the guest runs, and accepts one client at a time), send the
    line, stay connected until memload's answer: QEMU drops what the guest has not read yet when
    the client hangs up. Returns the answer; raises SendError."""
    deadline = time.monotonic() + timeout
    while True:
        s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        try:
            s.connect(path)
            break
        except OSError as e:
            s.close()
            if time.monotonic() > deadline:
                raise SendError(f"cannot connect to {path}: {e}") from e
            time.sleep(retry_s)
    with s:
        s.sendall(line.encode() + b"\n")
        buf = b""
        while b"\n" not in buf:
            left = deadline - time.monotonic()
            if left <= 0:
                raise SendError(f"no answer from memload on {path} within {timeout:g} s")
            s.settimeout(left)
            try:
                chunk = s.recv(4096)
            except socket.timeout:
                continue
            if not chunk:
                raise SendError(f"{path} closed before memload answered")
            buf += chunk
    return buf.split(b"\n")[0].decode(errors="replace").strip()


def main():
    if len(sys.argv) not in (3, 4):
        sys.exit(__doc__.strip().split("\n\n")[1].strip())
    timeout = float(sys.argv[3]) if len(sys.argv) == 4 else 15.0
    try:
        answer = send(sys.argv[1], sys.argv[2], timeout)
    except SendError as e:
        sys.exit(f"tiny-guest: {e}")
    print(answer)
    sys.exit(0 if answer.startswith("OK") else 1)


if __name__ == "__main__":
    main()
