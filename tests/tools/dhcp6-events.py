#!/usr/bin/env python3
"""The JSON events of l2wg-dhcp6 (one object a line), for tests/netns/dhcp6_kea.test.sh.

    dhcp6-events.py wait FILE TIMEOUT START SPEC...   waits up to TIMEOUT s for the first event
                            past the first START that matches; prints "POSITION JSON" of it
                            (POSITION: how many events up to and including it), or the events
                            after START and exit status 1
    dhcp6-events.py last FILE SPEC...   the position of the last event that matches (0: none)
    dhcp6-events.py py FILE CODE        runs the Python CODE with `events`, all of FILE's events;
                                        a failed assert (or a missing event) prints the last
                                        events and exit status 1

A SPEC is KEY=VALUE (the field's text equals VALUE) or py:EXPRESSION (over the event `e`). CODE
has select(events, SPEC...), in_net(prefix, net), plen(prefix), seconds(us) and note(text),
which writes to file descriptor 3 (the test's stdout, shown even when the check passes). FILE is
read while the client still writes it: a half-written last line is left for the next look.
"""
import ipaddress, json, os, sys, time

def load(path):
    try:
        with open(path) as f:
            text = f.read()
    except FileNotFoundError:
        return []
    return [json.loads(line) for line in text.split("\n")[:-1] if line.startswith("{")]

def in_net(prefix, net):
    return ipaddress.ip_network(prefix).subnet_of(ipaddress.ip_network(net))

def plen(prefix):
    return ipaddress.ip_network(prefix).prefixlen

def matcher(specs):
    tests = []
    for spec in specs:
        if spec.startswith("py:"):
            code = compile(spec[3:], spec, "eval")
            tests.append(lambda e, code=code: eval(code, globals(), {"e": e}))
        else:
            key, _, value = spec.partition("=")
            tests.append(lambda e, key=key, value=value: str(e.get(key)) == value)
    return lambda e: all(test(e) for test in tests)

def select(events, *specs):
    match = matcher(specs)
    return [e for e in events if match(e)]

def show(events):
    base = events[0]["mono_us"] if events else 0
    for e in events:
        rest = {k: v for k, v in e.items() if k not in ("event", "mono_us", "wall_us")}
        print(f"  +{(e['mono_us'] - base) / 1e6:8.3f}s {e['event']} {json.dumps(rest)[:150]}")

def seconds(us):
    return us / 1e6

def note(text):  # shown even when the check passes: fd 3 is the test's stdout
    os.write(3, f"    {text}\n".encode())

command, path = sys.argv[1], sys.argv[2]
run = os.path.basename(path).removesuffix(".events.log")
if command == "wait":
    timeout, start, specs = float(sys.argv[3]), int(sys.argv[4]), sys.argv[5:]
    match = matcher(specs)
    deadline = time.monotonic() + timeout
    while True:
        events = load(path)
        for i in range(start, len(events)):
            if match(events[i]):
                print(i + 1, json.dumps(events[i]))
                sys.exit(0)
        if time.monotonic() > deadline:
            print(f"{run}: no event {' '.join(specs)} within {timeout:g}s; the events after #{start}:")
            show(events[start:][-25:])
            sys.exit(1)
        time.sleep(0.05)
elif command == "last":
    events = load(path)
    found = [i + 1 for i, e in enumerate(events) if matcher(sys.argv[3:])(e)]
    print(found[-1] if found else 0)
elif command == "py":
    events = load(path)
    try:
        exec(sys.argv[3])
    except Exception as error:  # a failed assert, or an event missing (IndexError)
        print(f"{run}: {type(error).__name__}: {error}")
        show(events[-25:])
        sys.exit(1)
