#!/usr/bin/env python3
"""Code certificates in governance, end to end (docs/code-certificates.md
"Governance"), with real processes and a supply chain recorded by the in-toto
reference tools:

- `consort code certify` certifies the application module a build step
  produced and a test step checked, measuring the code id with consortd;
- the members log the running code id's certificate (add_code_id), then set a
  policy: issuer = the CI's certificate, claims tested and compliance=HIPAA;
- under the policy, adding a new code id without a certificate, or with one
  whose test step failed (no "tested"), is refused when proposed; with a
  proper certificate it is accepted and a node running that code joins;
- GET /gov/code/transparency lists both certificates with their transactions;
  the receipt of the transaction that trusted the new code id verifies offline
  (`consort receipt verify`), and so does the certificate (`consort code
  verify`), so anyone can check that the code was logged when it was trusted."""

import base64
import json
import os
import secrets
import shutil
import subprocess
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import consort_harness as h  # noqa: E402
from consort_harness import check  # noqa: E402

PY = "/usr/bin/python3"  # Debian's: where the reference implementation's library is

LAYOUT = r'''
import sys
from securesystemslib.interface import import_ed25519_privatekey_from_file
from securesystemslib.interface import import_publickeys_from_file
from in_toto.models.layout import Layout, Step
from in_toto.models.metadata import Metablock
d = sys.argv[1]
owner = import_ed25519_privatekey_from_file(d + "/owner")
b, t = import_publickeys_from_file([d + "/builder.pub", d + "/tester.pub"],
                                   ["ed25519", "ed25519"]).values()
l = Layout()
l.expires = "2099-01-01T00:00:00Z"
l.add_functionary_key(b)
l.add_functionary_key(t)
build = Step(name="build")
build.pubkeys = [b["keyid"]]
build.add_product_rule_from_string("CREATE app.so")
build.add_product_rule_from_string("DISALLOW *")
test = Step(name="test")
test.pubkeys = [t["keyid"]]
test.add_material_rule_from_string("MATCH app.so WITH PRODUCTS FROM build")
test.add_material_rule_from_string("DISALLOW *")
test.add_product_rule_from_string("DISALLOW *")
l.steps = [build, test]
m = Metablock(signed=l)
m.sign(owner)
m.dump(d + "/root.layout")
'''


def tools_or_skip():
    for tool in ("in-toto-keygen", "in-toto-run", "openssl"):
        if shutil.which(tool) is None:
            raise h.Skip(f"{tool} is not installed (scripts/install-deps installs in-toto)")
    if subprocess.run([PY, "-c", "import in_toto"], capture_output=True).returncode != 0:
        raise h.Skip(f"{PY} has no in_toto module (package in-toto)")


def run(argv, cwd):
    p = subprocess.run(argv, cwd=cwd, capture_output=True, timeout=120)
    check(p.returncode == 0, f"{' '.join(argv)}: {p.stdout.decode()} {p.stderr.decode()}")


def supply_chain(env):
    """Keys, the layout and the CI issuer: the directory holding them."""
    d = env.path("supply")
    os.makedirs(d)
    for k in ("owner", "builder", "tester"):
        run(["in-toto-keygen", "-t", "ed25519", k], d)
    run([PY, "-c", LAYOUT, d], d)
    run(["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256",
         "-nodes", "-keyout", "ci_privk.pem", "-out", "ci_cert.pem", "-subj", "/CN=consort-ci",
         "-days", "30"], d)
    return d


def record(sup, module, name, test_ok=True):
    """The build step copies `module` to app.so, the test step checks it (exits 1
    unless test_ok). Returns the chain's directory."""
    d = os.path.join(sup, name)
    os.makedirs(d)
    run(["in-toto-run", "-n", "build", "-k", os.path.join(sup, "builder"), "-t", "ed25519",
         "--products", "app.so", "--", "cp", module, "app.so"], d)
    test = "test -s app.so" if test_ok else "test -s app.so && exit 1"
    run(["in-toto-run", "-n", "test", "-k", os.path.join(sup, "tester"), "-t", "ed25519",
         "--materials", "app.so", "--", "sh", "-c", test], d)
    shutil.copyfile(os.path.join(sup, "root.layout"), os.path.join(d, "root.layout"))
    return d


def certify(env, sup, chain, *claims):
    out = os.path.join(chain, "app.codecert")
    code, text = h.run_cli(env, "code", "certify", "--layout", os.path.join(chain, "root.layout"),
                           "--layout-key", os.path.join(sup, "owner.pub"), "--links", chain,
                           "--artifact", os.path.join(chain, "app.so"),
                           "--issuer-key", os.path.join(sup, "ci_privk.pem"),
                           "--issuer-cert", os.path.join(sup, "ci_cert.pem"),
                           "--out", out, *claims, timeout=120)
    return code, text, out


def b64(path):
    with open(path, "rb") as f:
        return base64.b64encode(f.read()).decode()


def new_module(env, tag):
    path = env.path(f"app-{tag}.so")
    shutil.copyfile(env.app, path)
    with open(path, "ab") as f:
        f.write(f"consort code transparency {tag}".encode())
    return path


def propose_refused(sb, proposal, needle):
    path = os.path.join(os.path.dirname(sb.workspace), f"refused-{len(needle)}.json")
    with open(path, "w") as f:
        json.dump(proposal, f)
    code, out = sb.gov(0, "propose", path)
    check(code != 0, f"the proposal was accepted for voting: {out}")
    check(needle in out, f"the refusal does not say '{needle}': {out}")
    h.log(f"refused when proposed: {needle}")


def test_code_certificates_logged_and_required(env):
    tools_or_skip()
    sup = supply_chain(env)
    claims = ("--tested-by", "test", "--claim", "compliance=HIPAA")
    running = h.code_id(env.consortd, env.app)
    code, out, cert_running = certify(env, sup, record(sup, env.app, "running"), *claims)
    check(code == 0 and running in out, f"certify the running module: {out}")
    v2 = new_module(env, "v2")
    code, out, cert_v2 = certify(env, sup, record(sup, v2, "v2"), *claims)
    check(code == 0, f"certify v2: {out}")
    v2_id = h.code_id(env.consortd, v2)
    check(v2_id in out, f"the certificate is for v2's code id {v2_id}: {out}")
    v3 = new_module(env, "v3")
    failing = record(sup, v3, "v3", test_ok=False)
    code, out, _ = certify(env, sup, failing, *claims)
    check(code == 1 and 'the test step "test" returned 1' in out,
          f"a failed test step must give no tested certificate: {out}")
    code, out, cert_v3 = certify(env, sup, failing, "--claim", "compliance=HIPAA")
    check(code == 0, f"certify v3 without the tested claim: {out}")
    v3_id = h.code_id(env.consortd, v3)
    with open(os.path.join(sup, "ci_cert.pem")) as f:
        issuer_pem = f.read()

    with env.sandbox(nodes=1) as sb:
        _, state = sb.pass_proposal({"actions": [{"name": "add_code_id", "args": {
            "code_id": running, "certificate": b64(cert_running)}}]})
        check(state == "Accepted", f"logging the running code id's certificate: {state}")
        _, state = sb.pass_proposal({"actions": [{"name": "set_code_certificate_policy", "args": {
            "issuers": [issuer_pem], "claims": ["tested", "compliance=HIPAA"]}}]})
        check(state == "Accepted", f"the certificate policy: {state}")

        propose_refused(sb, {"actions": [{"name": "add_code_id", "args": {"code_id": v2_id}}]},
                        "requires a code certificate")
        propose_refused(sb, {"actions": [{"name": "add_code_id", "args": {
            "code_id": v3_id, "certificate": b64(cert_v3)}}]}, 'no claim "tested"')
        propose_refused(sb, {"actions": [{"name": "add_code_id", "args": {
            "code_id": v2_id, "certificate": b64(cert_running)}}]}, "is for code id")

        _, state = sb.pass_proposal({"actions": [{"name": "add_code_id", "args": {
            "code_id": v2_id, "certificate": b64(cert_v2)}}]})
        check(state == "Accepted", f"trusting v2 with its certificate: {state}")
        code, out = sb.add_node(app=v2, timeout=40)
        check(code == 0, f"a node running certified v2 could not join: {out}")
        h.log(f"a node running v2 ({v2_id[:16]}) joined")

        c = sb.client(0)
        try:
            doc = c.get_json("/gov/code/transparency")
            listed = {e["code_id"]: e for e in doc["certificates"]}
            check(set(listed) == {running, v2_id}, f"the transparency list: {sorted(listed)}")
            check(doc["policy"]["claims"] == ["tested", "compliance=HIPAA"], f"policy: {doc}")
            entry = listed[v2_id]
            check(entry["claims"].get("tested") == "true", f"v2's entry: {entry}")
            receipt = h.fetch_receipt(c, entry["transaction_id"])
        finally:
            c.close()
        receipt_path = env.path("v2_receipt.json")
        with open(receipt_path, "w") as f:
            json.dump(receipt, f)
        code, out = h.receipt_verify(env, receipt_path, sb.service_cert)
        check(code == 0, f"the receipt of the transaction that logged v2's certificate: {out}")
        logged = env.path("v2_logged.codecert")
        with open(logged, "wb") as f:
            f.write(base64.b64decode(entry["certificate"]))
        code, out = h.run_cli(env, "code", "verify", "--cert", logged, "--issuer-cert",
                              os.path.join(sup, "ci_cert.pem"), "--code-id", v2_id,
                              "--artifact", v2, "--require", "tested",
                              "--require", "compliance=HIPAA")
        check(code == 0, f"the logged certificate does not verify offline: {out}")
        h.log(f"v2's certificate was logged in {entry['transaction_id']}, the transaction "
              f"that trusted it; its receipt and the certificate verify offline")

        # a client's end-to-end check (docs/e2e.md): every code id the service trusts
        # carries a certificate by the CI with the policy's claims
        nonce = secrets.token_hex(16)
        body = json.dumps({"id": 1, "msg": "a medical record"}).encode()
        c = sb.client(0)
        try:
            r = c.request("POST", "/app/log/private", body=body,
                          headers={"x-consort-attest": nonce})
        finally:
            c.close()
        check(r.status == 200, f"the attested write: {r!r}")
        files = {k: env.path(f"e2e-{k}") for k in ("statement", "request", "response", "policy")}
        for k, data in (("statement", r.headers["x-consort-handling-statement"].encode()),
                        ("request", body), ("response", r.body)):
            with open(files[k], "wb") as f:
                f.write(data)

        def e2e(policy):
            with open(files["policy"], "w") as f:
                json.dump(policy, f)
            return h.run_cli(env, "e2e", "verify", "--service-cert", sb.service_cert,
                             "--nonce", nonce, "--method", "POST", "--target", "/app/log/private",
                             "--request-body", files["request"], "--status", str(r.status),
                             "--response-body", files["response"], "--policy", files["policy"],
                             files["statement"])
        ci = os.path.join(sup, "ci_cert.pem")
        code, out = e2e({"issuers": [ci], "claims": ["tested", "compliance=HIPAA"]})
        check(code == 0, f"the end-to-end attestation does not meet the client's policy: {out}")
        code, out = e2e({"issuers": [ci], "claims": ["compliance=FERPA"]})
        check(code == 1 and "FERPA" in out, f"a FERPA policy passed HIPAA-only code: {out}")
        h.log("the client's policy (CI-certified, tested, HIPAA) holds for every code id the "
              "service trusts; a FERPA policy does not")


if __name__ == "__main__":
    sys.exit(h.main([test_code_certificates_logged_and_required]))
