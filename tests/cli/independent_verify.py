#!/usr/bin/env python3
"""An independent verifier for consort ledgers (format version 2) and
receipts, written from docs/ledger.md and docs/receipts.md alone (it shares
no code with consort). tests/cli/test_cli_ledger.sh runs it on generated
data to show the documents are enough to verify without consort, and that
it agrees with `consort ledger verify`. Needs the `cryptography` package.
Like any offline verifier it has no ledger secret: it cannot check entry
tags, commit evidence or state digests (ledger.md §6.1).

    independent_verify.py receipt RECEIPT.json SERVICE_CERT.pem
    independent_verify.py ledger DIR SERVICE_CERT.pem

Exit status 0 if it verifies, 1 (with the reason) if not.
"""
import base64, datetime, hashlib, json, os, re, struct, sys

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, utils


# cryptography >= 42 has the *_utc accessors; Debian 12's 38 has naive UTC ones.
def valid_from(cert):
    t = getattr(cert, "not_valid_before_utc", None)
    return t if t is not None else cert.not_valid_before.replace(tzinfo=datetime.timezone.utc)


def valid_until(cert):
    t = getattr(cert, "not_valid_after_utc", None)
    return t if t is not None else cert.not_valid_after.replace(tzinfo=datetime.timezone.utc)


class Bad(Exception):
    pass


def need(cond, why):
    if not cond:
        raise Bad(why)


# ---- a minimal CBOR decoder (RFC 8949; definite lengths only) ----

def cbor_item(b, i):
    need(i < len(b), "CBOR: truncated")
    major, info = b[i] >> 5, b[i] & 31
    i += 1
    if info < 24:
        arg = info
    elif info in (24, 25, 26, 27):
        n = 1 << (info - 24)
        need(i + n <= len(b), "CBOR: truncated")
        arg = int.from_bytes(b[i:i + n], "big")
        i += n
    else:
        raise Bad("CBOR: unsupported additional info %d" % info)
    if major == 0:
        return arg, i
    if major == 1:
        return -1 - arg, i
    if major in (2, 3):
        need(i + arg <= len(b), "CBOR: truncated string")
        s = bytes(b[i:i + arg])
        return (s if major == 2 else s.decode("utf-8")), i + arg
    if major == 4:
        out = []
        for _ in range(arg):
            v, i = cbor_item(b, i)
            out.append(v)
        return out, i
    if major == 5:
        out = []  # a list of pairs keeps the order and duplicates visible
        for _ in range(arg):
            k, i = cbor_item(b, i)
            v, i = cbor_item(b, i)
            out.append((k, v))
        return out, i
    if major == 6:
        v, i = cbor_item(b, i)
        return ("tag", arg, v), i
    if major == 7 and info == 22:
        return None, i
    raise Bad("CBOR: unsupported item")


def cbor(b):
    v, i = cbor_item(b, 0)
    need(i == len(b), "CBOR: trailing bytes")
    return v


def cbor_head(major, n):
    if n < 24:
        return bytes([major << 5 | n])
    for info, size in ((24, 1), (25, 2), (26, 4), (27, 8)):
        if n < 1 << (8 * size):
            return bytes([major << 5 | info]) + n.to_bytes(size, "big")


# ---- the pieces both documents share ----

def check_node_cert(cert, service, now):
    """receipts.md step 8: issued by the pinned service certificate, valid now."""
    skey = service.public_key()
    try:
        skey.verify(cert.signature, cert.tbs_certificate_bytes,
                    ec.ECDSA(cert.signature_hash_algorithm))
    except Exception:
        raise Bad("node certificate is not signed by the service certificate")
    need(cert.issuer == service.subject, "node certificate issuer is not the service")
    for c in (cert, service):
        need(valid_from(c) <= now <= valid_until(c), "certificate not valid now")


def check_cose_signature(cose_bytes, root, cert, want_unprotected_empty):
    """ledger.md §4 / receipts.md steps 4, 9, 10: headers, kid, signature."""
    tag = cbor(cose_bytes)
    need(isinstance(tag, tuple) and tag[1] == 18, "COSE_Sign1 must be tagged 18")
    msg = tag[2]
    need(isinstance(msg, list) and len(msg) == 4, "COSE_Sign1 is a 4-element array")
    protected, unprotected, payload, sig = msg
    hdr = dict(cbor(protected))
    need(sorted(hdr) == [1, 4, 395], "protected header must be {1, 4, 395}")
    need(hdr[1] in (-7, -35) and hdr[395] == 1, "alg / vds")
    need(payload is None, "payload must be detached")
    if want_unprotected_empty:
        need(unprotected == [], "unprotected header must be empty")
    key = cert.public_key()
    spki = key.public_bytes(serialization.Encoding.DER,
                            serialization.PublicFormat.SubjectPublicKeyInfo)
    need(hashlib.sha256(spki).digest() == hdr[4], "kid is not the node key's id")
    curve, h, n = ((ec.SECP256R1, hashes.SHA256(), 32) if hdr[1] == -7
                   else (ec.SECP384R1, hashes.SHA384(), 48))
    need(isinstance(key.curve, curve) and len(sig) == 2 * n, "alg does not fit the key")
    tbs = (cbor_head(4, 4) + cbor_head(3, 10) + b"Signature1" + cbor_head(2, len(protected))
           + protected + cbor_head(2, 0) + cbor_head(2, len(root)) + root)
    der = utils.encode_dss_signature(int.from_bytes(sig[:n], "big"),
                                     int.from_bytes(sig[n:], "big"))
    try:
        key.verify(der, tbs, ec.ECDSA(h))
    except Exception:
        raise Bad("COSE signature does not verify")
    return hdr, unprotected


def leaf_hash(ws_digest, ce_digest, claims):
    return hashlib.sha256(b"\x00" + ws_digest + ce_digest + claims).digest()


def node(l, r):
    return hashlib.sha256(b"\x01" + l + r).digest()


TXID = re.compile(r"^([1-9][0-9]*)\.([1-9][0-9]*)$")


# ---- receipts.md "Verifying independently" ----

def verify_receipt(path, service, now):
    j = json.load(open(path))
    need(sorted(j) == ["cose_receipt", "leaf_components", "node_certificate", "txid"], "members")
    lc = j["leaf_components"]
    need(sorted(lc) == ["claims_digest", "commit_evidence", "write_set_digest"], "leaf members")
    m = TXID.match(j["txid"])
    need(m is not None, "txid")
    seqno = int(m.group(2))
    ce = lc["commit_evidence"]
    need(re.fullmatch("ce:" + re.escape(j["txid"]) + ":[0-9a-f]{64}", ce) is not None,
         "commit evidence does not name the txid")
    cert = x509.load_pem_x509_certificate(j["node_certificate"].encode())
    check_node_cert(cert, service, now)
    cose = base64.b64decode(j["cose_receipt"], validate=True)
    # the proof first (step 4), then the root (steps 5-7), then the signature
    msg = cbor(cose)[2]
    unprot = msg[1]
    need(len(unprot) == 1 and unprot[0][0] == 396, "unprotected must be {396: ...}")
    vdp = unprot[0][1]
    need(len(vdp) == 1 and vdp[0][0] == -1 and len(vdp[0][1]) == 1, "{-1: [proof]}")
    tree_size, index, path_ = cbor(vdp[0][1][0])
    need(index == seqno - 1 and index < tree_size, "leaf index")
    r = leaf_hash(bytes.fromhex(lc["write_set_digest"]),
                  hashlib.sha256(ce.encode()).digest(), bytes.fromhex(lc["claims_digest"]))
    fn, sn = index, tree_size - 1
    for p in path_:
        need(sn != 0 and len(p) == 32, "proof too long")
        if fn & 1 or fn == sn:
            r = node(p, r)
            while not fn & 1 and fn != 0:
                fn, sn = fn >> 1, sn >> 1
        else:
            r = node(r, p)
        fn, sn = fn >> 1, sn >> 1
    need(sn == 0, "proof too short")
    check_cose_signature(cose, r, cert, False)
    return "receipt for %s verifies" % j["txid"]


# ---- ledger.md §6 ----

def mth(leaves):
    """RFC 9162 §2.1.1 Merkle tree hash (recursive; fine for test ledgers)."""
    if not leaves:
        return hashlib.sha256(b"").digest()
    if len(leaves) == 1:
        return leaves[0]
    k = 1
    while k * 2 < len(leaves):
        k *= 2
    return node(mth(leaves[:k]), mth(leaves[k:]))


NAME = re.compile(r"^ledger_([1-9][0-9]*)(?:-([1-9][0-9]*)\.committed|\.open)$")
MiB16 = 16 << 20
ENTRY_MIN, ENTRY_MAX = 128, 128 + 2 * MiB16


def cbor_uint(n):
    return cbor_head(0, n)


def cbor_bytes(b):
    return cbor_head(2, len(b)) + b


def cbor_text(t):
    t = t.encode()
    return cbor_head(3, len(t)) + t


def terms_digest(runs, tree_size):
    """ledger.md §4.2: SHA-256 of the CBOR array of [first_seqno, term] of
    the runs that start at or before tree_size."""
    pairs = [(s, t) for s, t in runs if s <= tree_size]
    enc = cbor_head(4, len(pairs))
    for s, t in pairs:
        enc += cbor_head(4, 2) + cbor_uint(s) + cbor_uint(t)
    return hashlib.sha256(enc).digest()


def checkpoint_record(tree_size, root, state, terms):
    """ledger.md §4.2: ["consort checkpoint v2", tree_size, root, state, terms]."""
    return (cbor_head(4, 5) + cbor_text("consort checkpoint v2") + cbor_uint(tree_size)
            + cbor_bytes(root) + cbor_bytes(state) + cbor_bytes(terms))


def decode_entry(e, where):
    """ledger.md §1.1, in its order. Returns (kind, term, seqno, P)."""
    need(len(e) <= ENTRY_MAX, where + ": entry too large")
    need(e[:4] == b"CSLE", where + ": magic")
    need(len(e) >= 5 and e[4] == 2, where + ": version %s, expected 2"
         % (e[4] if len(e) >= 5 else "missing"))
    need(len(e) >= 108, where + ": truncated header")
    need(e[5] in (1, 2, 3) and e[6:8] == b"\0\0", where + ": kind / flags")
    term, seqno = struct.unpack(">QQ", e[8:24])
    need(1 <= term < 1 << 32 and seqno >= 1, where + ": term / seqno")
    (plen,) = struct.unpack(">I", e[104:108])
    need(plen <= MiB16 and len(e) >= 112 + plen, where + ": public_len")
    (clen,) = struct.unpack(">I", e[108 + plen:112 + plen])
    need(clen <= MiB16 and 128 + plen + clen == len(e), where + ": lengths")
    return e[5], term, seqno, plen


def torn_ok(rest, n):
    """ledger.md §5.2: what there is of a frame of length n that runs past
    the end of the file may be a prefix of one genuine frame."""
    if len(rest) >= 4 and rest[:4] != b"CSLE":
        return False
    if len(rest) >= 5 and rest[4] != 2:
        return False
    if len(rest) < 108:
        return True
    (plen,) = struct.unpack(">I", rest[104:108])
    if plen > MiB16 or 128 + plen > n:
        return False
    if len(rest) < 112 + plen:
        return True
    (clen,) = struct.unpack(">I", rest[108 + plen:112 + plen])
    return clen <= MiB16 and 128 + plen + clen == n


def verify_ledger(d, service, now):
    chunks = []
    for name in os.listdir(d):
        if not name.startswith("ledger_"):
            continue
        m = NAME.match(name)
        need(m is not None, "bad chunk name " + name)
        chunks.append((int(m.group(1)), int(m.group(2)) if m.group(2) else None, name))
    chunks.sort()
    leaves, runs, expect, last_term, last_sig = [], [], 1, 0, 0
    for ci, (first, last, name) in enumerate(chunks):
        need(last is not None or ci == len(chunks) - 1, "only the last chunk may be open")
        # a gap names the next chunk's offset 0 and the missing seqno; a
        # ledger that does not start at 1 names its first entry
        need(first == expect, "%s offset 0 seqno %d: chunk starts at %d, expected %d"
             % (name, first if ci == 0 else expect, first, expect))
        data, off, kind, last_off = open(os.path.join(d, name), "rb").read(), 0, None, 0
        while off < len(data):
            where = "%s offset %d seqno %d" % (name, off, expect)
            if off + 4 > len(data):
                need(last is None, where + ": truncated frame")
                break  # a torn length field at the end of the open chunk
            (n,) = struct.unpack(">I", data[off:off + 4])
            need(ENTRY_MIN <= n <= ENTRY_MAX, where + ": frame length %d" % n)
            if off + 4 + n > len(data):
                need(last is None, where + ": truncated frame")
                need(torn_ok(data[off + 4:], n), where + ": not a torn write")
                break  # a torn tail of the open chunk: reported, not an error
            e = data[off + 4:off + 4 + n]
            kind, term, seqno, plen = decode_entry(e, where)
            need(seqno == expect and term >= last_term, where + ": seqno / term order")
            if kind == 2:
                verify_signature(e, plen, seqno, term, leaves, runs, service, now, where)
                last_sig = seqno
            leaves.append(leaf_hash(hashlib.sha256(e).digest(), e[72:104], e[40:72]))
            if not runs or runs[-1][1] != term:
                runs.append((seqno, term))
            expect, last_term, last_off, off = expect + 1, term, off, off + 4 + n
        if last is not None:
            need(expect - 1 == last and kind == 2, "%s offset %d seqno %d: a committed chunk "
                 "must end at %d with a signature entry" % (name, last_off, expect - 1, last))
    need(expect > 1, "no entries")
    entries = expect - 1
    return ("ledger verifies: %d entries, last signature at %d, %d unsigned after it"
            % (entries, last_sig, entries - last_sig))


SIG_KEYS = ["term", "seqno", "tree_size", "root", "state", "terms", "node_id", "cose",
            "checkpoint", "cert"]


def check_checkpoint(cp_bytes, record, cert, root_hdr, where):
    """ledger.md §4.2: tagged, protected exactly {1: alg, 4: kid} equal to
    the root's, unprotected empty, detached, signature over the record."""
    tag = cbor(cp_bytes)
    need(isinstance(tag, tuple) and tag[1] == 18, where + ": checkpoint must be tagged 18")
    msg = tag[2]
    need(isinstance(msg, list) and len(msg) == 4, where + ": checkpoint is a 4-element array")
    protected, unprotected, payload, sig = msg
    hdr = cbor(protected)
    need([k for k, _ in hdr] == [1, 4], where + ": checkpoint protected header must be {1, 4}")
    hdr = dict(hdr)
    need(hdr[1] == root_hdr[1] and hdr[4] == root_hdr[4],
         where + ": checkpoint alg / kid differ from the root's")
    need(unprotected == [] and payload is None, where + ": checkpoint headers / payload")
    key = cert.public_key()
    h, n = (hashes.SHA256(), 32) if hdr[1] == -7 else (hashes.SHA384(), 48)
    need(len(sig) == 2 * n, where + ": checkpoint signature length")
    tbs = (cbor_head(4, 4) + cbor_text("Signature1") + cbor_bytes(protected) + cbor_bytes(b"")
           + cbor_bytes(record))
    der = utils.encode_dss_signature(int.from_bytes(sig[:n], "big"),
                                     int.from_bytes(sig[n:], "big"))
    try:
        key.verify(der, tbs, ec.ECDSA(h))
    except Exception:
        raise Bad(where + ": checkpoint signature does not verify")


def verify_signature(e, plen, seqno, term, leaves, runs, service, now, where):
    need(e[40:72] == bytes(32) and e[108 + plen:112 + plen] == bytes(4), where + ": sig entry")
    ws = cbor(e[108:108 + plen])
    need(len(ws) == 1 and ws[0][0] == "public:consort.signatures", where + ": map")
    writes = ws[0][1]
    need(len(writes) == 1 and len(writes[0]) == 2 and writes[0][0] == b"\x00", where)
    sig = cbor(writes[0][1])
    need([k for k, _ in sig] == SIG_KEYS, where + ": keys")
    s = dict(sig)
    need(s["term"] == term and s["seqno"] == seqno and s["tree_size"] == seqno - 1, where)
    need(all(len(s[k]) == 32 for k in ("root", "state", "terms")), where + ": digest sizes")
    need(s["root"] == mth(leaves), where + ": root is not the rebuilt tree's")
    cert = x509.load_der_x509_certificate(s["cert"])
    check_node_cert(cert, service, now)
    hdr, _ = check_cose_signature(s["cose"], s["root"], cert, True)
    need(s["node_id"] == hdr[4][:8].hex(), where + ": node_id")
    record = checkpoint_record(s["tree_size"], s["root"], s["state"], s["terms"])
    check_checkpoint(s["checkpoint"], record, cert, hdr, where)
    need(s["terms"] == terms_digest(runs, seqno - 1),
         where + ": signed terms digest is not the entries' terms")


def main():
    if len(sys.argv) != 4 or sys.argv[1] not in ("receipt", "ledger"):
        print(__doc__, file=sys.stderr)
        return 2
    service = x509.load_pem_x509_certificate(open(sys.argv[3], "rb").read())
    now = datetime.datetime.now(datetime.timezone.utc)
    try:
        verify = verify_receipt if sys.argv[1] == "receipt" else verify_ledger
        print(verify(sys.argv[2], service, now))
        return 0
    except (Bad, KeyError, ValueError, TypeError, IndexError, struct.error) as e:
        print("rejected: %s" % e, file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
