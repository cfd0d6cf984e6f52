"""RFC 9162 Merkle trees over SHA-256: leaf hashes and roots from inclusion proofs."""

import hashlib

from .errors import ensure

PROOF_MAX = 64  # RFC 9162 §2.1.3.1: at most one hash per level


def check_path(path, what):
    """An inclusion path as decoded: a list of at most PROOF_MAX 32-byte hashes."""
    ensure(isinstance(path, list) and len(path) <= PROOF_MAX, "MALFORMED",
           f"{what} is not an array of at most {PROOF_MAX} hashes")
    for i, hsh in enumerate(path):
        ensure(isinstance(hsh, bytes) and len(hsh) == 32, "MALFORMED",
               f"{what}: hash {i} is not 32 bytes")


def leaf_hash(data):
    """SHA-256(0x00 || data)."""
    return hashlib.sha256(b"\x00" + bytes(data)).digest()


def node_hash(left, right):
    """SHA-256(0x01 || left || right)."""
    return hashlib.sha256(b"\x01" + left + right).digest()


def root_from_inclusion(leaf, leaf_index, tree_size, path):
    """The root that path gives for leaf (a leaf hash) at leaf_index in a tree
    of tree_size leaves (RFC 9162 §2.1.3.2); ConsortError if path does not fit."""
    ensure(leaf_index < tree_size, "MALFORMED",
           f"inclusion proof: leaf_index {leaf_index} not below tree_size {tree_size}")
    ensure(len(path) <= PROOF_MAX, "MALFORMED", f"inclusion proof of {len(path)} hashes")
    fn, sn, r = leaf_index, tree_size - 1, bytes(leaf)
    for p in path:
        ensure(len(p) == 32, "MALFORMED", f"inclusion proof hash of {len(p)} bytes")
        ensure(sn != 0, "MALFORMED", "inclusion proof: path longer than the tree is deep")
        if fn & 1 or fn == sn:
            r = node_hash(p, r)
            while not fn & 1 and fn != 0:
                fn >>= 1
                sn >>= 1
        else:
            r = node_hash(r, p)
        fn >>= 1
        sn >>= 1
    ensure(sn == 0, "MALFORMED", "inclusion proof: path shorter than the tree is deep")
    return r


def tree_root(leaves):
    """The root of the tree of these leaf hashes (RFC 9162 §2.1.1)."""
    ensure(len(leaves) > 0, "INVALID_ARGUMENT", "no leaves")
    if len(leaves) == 1:
        return leaves[0]
    k = 1
    while k * 2 < len(leaves):
        k *= 2
    return node_hash(tree_root(leaves[:k]), tree_root(leaves[k:]))


def inclusion_path(leaves, index):
    """The inclusion path of leaves[index] (RFC 9162 §2.1.3.1), leaf hashes given."""
    if len(leaves) == 1:
        return []
    k = 1
    while k * 2 < len(leaves):
        k *= 2
    if index < k:
        return inclusion_path(leaves[:k], index) + [tree_root(leaves[k:])]
    return inclusion_path(leaves[k:], index - k) + [tree_root(leaves[:k])]
