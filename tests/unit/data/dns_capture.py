#!/usr/bin/python3
# Writes dns_wgsd.txt: DNS messages as dnspython (python3-dnspython, a standard resolver library)
# encodes them, for the example of wgsd's README (zone example.com, two peers), so that
# tests/unit/discovery_dns_test.cpp checks l2wg's codec and registry byte for byte against them.
# Each line: NAME HEX. Run: /usr/bin/python3 tests/unit/data/dns_capture.py > tests/unit/data/dns_wgsd.txt
import base64
import dns.flags
import dns.message
import dns.name
import dns.rcode
import dns.rdata
import dns.rdataclass
import dns.rdatatype
import dns.rrset

ZONE = "example.com."
PEERS = [  # wgsd's README: key, endpoint, allowed IPs
    ("xScVkH3fUGUv4RrJFfmcqm8rs3SEHr41km6+yffAHw4=", "203.0.113.1", 7777, "10.0.0.1/32"),
    ("syKB97XhGnvC+kynh2KqQJPXoOoOpx/HmpMRTc+r4js=", "198.51.100.1", 8888, "10.0.0.2/32"),
]
V6 = ("JeZlz14G8tg1Bqh6apteFCwVhNhpexJ19FDPfuxQtUY=", "2001:db8::1", 51820, "10.0.0.3/32,fd00::3/128")


def b32(key):
    return base64.b32encode(base64.b64decode(key)).decode().lower()


def instance(key):
    return f"{b32(key)}._wireguard._udp.{ZONE}"


def query(name, rdtype, qid, edns=-1, payload=1232):
    q = dns.message.make_query(name, rdtype, use_edns=edns, payload=payload)
    q.id = qid
    q.flags = 0
    return q


def response(q, aa=True):
    r = dns.message.make_response(q, our_payload=1232)
    r.flags = dns.flags.QR | (dns.flags.AA if aa else 0)
    return r


def soa():
    return dns.rrset.from_text(ZONE, 0, "IN", "SOA",
                               f"ns1.{ZONE} postmaster.{ZONE} 1 86400 7200 3600000 0")


def emit(label, message):
    print(label, message.to_wire(want_shuffle=False).hex())  # in the order given


# The PTR listing: every peer with an endpoint.
q = query(f"_wireguard._udp.{ZONE}", "PTR", 0x1001)
emit("ptr_query", q)
r = response(q)
ptr = dns.rrset.RRset(dns.name.from_text(f"_wireguard._udp.{ZONE}"), dns.rdataclass.IN,
                      dns.rdatatype.PTR)
for p in PEERS + [V6]:  # in the device's order, as the registry lists them
    ptr.add(dns.rdata.from_text("IN", "PTR", instance(p[0])), 0)
r.answer.append(ptr)
emit("ptr_response", r)

# SRV for the first peer: the target's A in additional. With EDNS (as dig asks).
key, address, port, allowed = PEERS[0]
q = query(instance(key), "SRV", 0x1002, edns=0)
emit("srv_query_edns", q)
r = response(q)
r.answer.append(dns.rrset.from_text(instance(key), 0, "IN", "SRV", f"0 0 {port} {instance(key)}"))
r.additional.append(dns.rrset.from_text(instance(key), 0, "IN", "A", address))
emit("srv_response_edns", r)

# The same in upper case, as wgsd-client asks; the answer echoes the question as asked.
upper = instance(key).upper().replace("EXAMPLE.COM.", "example.com.")
q = query(upper, "SRV", 0x1003)
emit("srv_query_upper", q)

# A and TXT.
q = query(instance(key), "A", 0x1004)
emit("a_query", q)
r = response(q)
r.answer.append(dns.rrset.from_text(instance(key), 0, "IN", "A", address))
emit("a_response", r)
q = query(instance(key), "TXT", 0x1005)
emit("txt_query", q)
r = response(q)
r.answer.append(dns.rrset.from_text(instance(key), 0, "IN", "TXT",
                                    f'"txtvers=1" "pub={key}" "allowed={allowed}"'))
emit("txt_response", r)

# An IPv6 endpoint: AAAA in SRV's additional, and a TXT with two allowed IPs.
key6, address6, port6, allowed6 = V6
q = query(instance(key6), "SRV", 0x1006)
r = response(q)
r.answer.append(dns.rrset.from_text(instance(key6), 0, "IN", "SRV", f"0 0 {port6} {instance(key6)}"))
r.additional.append(dns.rrset.from_text(instance(key6), 0, "IN", "AAAA", address6))
emit("srv6_query", q)
emit("srv6_response", r)

# NXDOMAIN with the SOA; NODATA (AAAA of an IPv4 endpoint).
q = query(f"nobody._wireguard._udp.{ZONE}", "SRV", 0x1007)
emit("nx_query", q)
r = response(q)
r.set_rcode(dns.rcode.NXDOMAIN)
r.authority.append(soa())
emit("nx_response", r)
q = query(instance(key), "AAAA", 0x1008)
emit("nodata_query", q)
r = response(q)
r.authority.append(soa())
emit("nodata_response", r)

# Another zone: REFUSED, not authoritative.
q = query("www.example.org.", "A", 0x1009)
emit("refused_query", q)
r = response(q, aa=False)
r.set_rcode(dns.rcode.REFUSED)
emit("refused_response", r)
