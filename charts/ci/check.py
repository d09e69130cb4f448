#!/usr/bin/env python3
"""Lint, render and validate every chart under charts/ with the real Helm engine (helm-sdkpy).

For each chart: `helm lint`; then, for its default values and every `ci/*-values.yaml`, an
install against a stub Kubernetes API server (a few dozen lines below: discovery, and create /
get / list / update that echo). What Helm sends to the stub is exactly the rendered manifests;
each is checked with kubernetes-validate --strict against Kubernetes KUBE_VERSION. Helm checks
the values against the chart's values.schema.json during install; every chart's
`ci/invalid/*.yaml` must be refused by that schema. Exit 1 on any failure.

Usage: charts/ci/check.py [CHART_DIR ...]   (default: every chart under charts/)
"""

import asyncio
import glob
import json
import os
import subprocess
import sys
import tempfile
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import kubernetes_validate
import yaml

os.environ.setdefault("HELM_DRIVER", "memory")
import helm_sdkpy  # noqa: E402  (reads HELM_DRIVER at load)

KUBE_VERSION = "1.31.0"
# The perfbed binary: every container running it must pass flags its CLI accepts.
PERFBED = os.environ.get("PERFBED_BIN") or os.path.join(
    os.environ.get("CARGO_TARGET_DIR") or os.path.expanduser("~/.cache/perfbed/target"), "debug", "perfbed")
ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

# Discovery: group/version -> [(resource, kind, namespaced)]
RESOURCES = {
    "v1": [("configmaps", "ConfigMap", True), ("secrets", "Secret", True), ("services", "Service", True),
           ("pods", "Pod", True), ("persistentvolumeclaims", "PersistentVolumeClaim", True),
           ("serviceaccounts", "ServiceAccount", True), ("namespaces", "Namespace", False)],
    "apps/v1": [("deployments", "Deployment", True), ("statefulsets", "StatefulSet", True)],
    "batch/v1": [("jobs", "Job", True), ("cronjobs", "CronJob", True)],
    "autoscaling/v2": [("horizontalpodautoscalers", "HorizontalPodAutoscaler", True)],
    "policy/v1": [("poddisruptionbudgets", "PodDisruptionBudget", True)],
    "rbac.authorization.k8s.io/v1": [("roles", "Role", True), ("rolebindings", "RoleBinding", True)],
    "monitoring.coreos.com/v1": [("servicemonitors", "ServiceMonitor", True)],
}
# Custom resources kubernetes-validate has no schema for.
CUSTOM_KINDS = {"ServiceMonitor"}


class Stub(BaseHTTPRequestHandler):
    created = []  # (kind, body) in order

    def log_message(self, *args):
        pass

    def reply(self, code, body):
        data = json.dumps(body).encode()
        self.send_response(code)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def raw(self):
        n = int(self.headers.get("Content-Length") or 0)
        return self.rfile.read(n)

    def body(self):
        return json.loads(self.raw() or b"{}")

    def protobuf(self):
        return "protobuf" in (self.headers.get("Content-Type") or "")

    def reply_raw(self, code, data):
        # Helm's release storage (a typed client) speaks protobuf: echo it back unchanged.
        self.send_response(code)
        self.send_header("Content-Type", self.headers.get("Content-Type"))
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def do_GET(self):
        path = self.path.split("?")[0].rstrip("/")
        if path == "/version":
            major, minor, _ = KUBE_VERSION.split(".")
            return self.reply(200, {"major": major, "minor": minor, "gitVersion": "v" + KUBE_VERSION})
        if path == "/api":
            return self.reply(200, {"kind": "APIVersions", "versions": ["v1"]})
        if path == "/apis":
            groups = [{"name": gv.split("/")[0], "versions": [{"groupVersion": gv, "version": gv.split("/")[1]}],
                       "preferredVersion": {"groupVersion": gv, "version": gv.split("/")[1]}}
                      for gv in RESOURCES if "/" in gv]
            return self.reply(200, {"kind": "APIGroupList", "apiVersion": "v1", "groups": groups})
        for gv, res in RESOURCES.items():
            if path == ("/api/" if gv == "v1" else "/apis/") + gv:
                return self.reply(200, {"kind": "APIResourceList", "groupVersion": gv, "resources": [
                    {"name": n, "singularName": "", "namespaced": ns, "kind": k,
                     "verbs": ["create", "delete", "get", "list", "patch", "update", "watch"]} for n, k, ns in res]})
        if path.split("/")[-1] in {n for res in RESOURCES.values() for n, _, _ in res}:
            return self.reply(200, {"kind": "List", "apiVersion": "v1", "metadata": {"resourceVersion": "1"}, "items": []})
        return self.reply(404, {"kind": "Status", "apiVersion": "v1", "status": "Failure", "reason": "NotFound", "code": 404})

    def echo(self, code):
        b = self.body()
        b.setdefault("metadata", {}).update(uid="00000000-0000-0000-0000-000000000001", resourceVersion="1")
        return b, code

    def do_POST(self):
        if self.protobuf():
            return self.reply_raw(201, self.raw())
        b, code = self.echo(201)
        Stub.created.append(b)
        self.reply(code, b)

    def do_PUT(self):
        if self.protobuf():
            return self.reply_raw(200, self.raw())
        b, code = self.echo(200)
        self.reply(code, b)

    def do_PATCH(self):
        self.reply(200, self.body())

    def do_DELETE(self):
        self.reply(200, {"kind": "Status", "apiVersion": "v1", "status": "Success"})


def kubeconfig(port):
    return yaml.safe_dump({
        "apiVersion": "v1", "kind": "Config", "current-context": "stub",
        "clusters": [{"name": "stub", "cluster": {"server": f"http://127.0.0.1:{port}"}}],
        "contexts": [{"name": "stub", "context": {"cluster": "stub", "user": "stub", "namespace": "perfbed"}}],
        "users": [{"name": "stub", "user": {"token": "stub"}}],
    })


def render(config, chart, values, release="ci"):
    """The manifests `helm install RELEASE CHART` sends to the stub API server, in order."""
    Stub.created.clear()
    asyncio.run(helm_sdkpy.Install(config).run(release, chart, values=values, wait=False, timeout=60))
    return list(Stub.created)


def stub_server():
    """A stub API server on 127.0.0.1 (a daemon thread) and a Helm configuration for it."""
    server = ThreadingHTTPServer(("127.0.0.1", 0), Stub)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server, helm_sdkpy.Configuration(namespace="perfbed", kubeconfig=kubeconfig(server.server_address[1]))


def containers(o):
    spec = o.get("spec", {})
    pod = spec.get("template", {}).get("spec", spec) if o["kind"] != "CronJob" else \
        spec["jobTemplate"]["spec"]["template"]["spec"]
    return pod.get("containers", []) + pod.get("initContainers", [])


def check_files(chart, label, o):
    """A rendered testbed file must be one `perfbed onboard --dry-run` accepts."""
    if o["kind"] != "ConfigMap" or "testbed.toml" not in o.get("data", {}):
        return 0
    with tempfile.NamedTemporaryFile("w", suffix=".toml") as f:
        f.write(o["data"]["testbed.toml"])
        f.flush()
        r = subprocess.run([PERFBED, "onboard", "--testbed", f.name, "--dry-run"], capture_output=True, text=True)
    if r.returncode != 0:
        print(f"FAIL {chart} ({label}): ConfigMap/{o['metadata']['name']}: perfbed refuses the testbed: {r.stderr.strip()}")
        return 1
    return 0


def check_args(chart, label, o):
    """perfbed containers: the CLI must accept the args (clap parses them, then --help stops)."""
    bad = 0
    for c in containers(o) if o["kind"] in ("Deployment", "Job", "CronJob", "Pod") else []:
        if "perfbed" not in c.get("image", "") or not c.get("args"):
            continue
        args = [a.replace("$(JOB_COMPLETION_INDEX)", "0") for a in c["args"]]
        r = subprocess.run([PERFBED, *args, "--help"], capture_output=True, text=True)
        if r.returncode != 0:
            print(f"FAIL {chart} ({label}): {o['kind']}/{o['metadata']['name']}: perfbed refuses its args: "
                  f"{r.stderr.strip().splitlines()[0] if r.stderr.strip() else r.returncode}")
            bad += 1
    return bad


RUNBOOK = os.path.join(os.path.dirname(ROOT), "docs", "runbook.md")
RUNBOOK_BEGIN = "<!-- rehearsal-commands: begin (scripts/rehearse --commands writes this block) -->\n```sh\n"
RUNBOOK_END = "```\n<!-- rehearsal-commands: end -->"


def check_runbook():
    """docs/runbook.md's distributed commands are the rehearsal's (charts/ci/rehearse.py builds
    them from the same plan it runs): a copy that drifted fails here."""
    import importlib.util
    spec = importlib.util.spec_from_file_location("rehearse", os.path.join(os.path.dirname(os.path.abspath(__file__)), "rehearse.py"))
    rehearse = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(rehearse)
    want = rehearse.runbook_commands()
    text = open(RUNBOOK).read()
    if RUNBOOK_BEGIN not in text or RUNBOOK_END not in text:
        print("FAIL docs/runbook.md: no rehearsal-commands block (paste scripts/rehearse --commands between the markers)")
        return 1
    got = text.split(RUNBOOK_BEGIN, 1)[1].split(RUNBOOK_END, 1)[0]
    if got != want:
        import difflib
        diff = "".join(difflib.unified_diff(got.splitlines(True), want.splitlines(True), "docs/runbook.md", "scripts/rehearse --commands"))
        print(f"FAIL docs/runbook.md: its distributed commands differ from what the rehearsal runs:\n{diff}")
        return 1
    print("ok   docs/runbook.md: the distributed commands are the rehearsal's (scripts/rehearse --commands)")
    return 0


def main():
    if not os.access(PERFBED, os.X_OK):
        print(f"FAIL: no perfbed binary at {PERFBED} (cargo build -p perfbed, or set PERFBED_BIN)")
        return 1
    server, config = stub_server()
    charts = sys.argv[1:] or sorted(os.path.dirname(p) for p in glob.glob(os.path.join(ROOT, "*", "Chart.yaml")))
    failures = 0
    for chart in charts:
        name = os.path.basename(chart)
        lint = asyncio.run(helm_sdkpy.Lint(config).run(chart))
        # Severity 1 info, 2 warning, 3 error (helm's support.Severity); warnings fail too.
        bad = [m for m in lint.get("Messages") or [] if m.get("Severity", 0) >= 2]
        if lint.get("Errors") or bad:
            where = ", ".join(f"{m.get('Path') or '(chart)'} (severity {m.get('Severity')})" for m in bad)
            print(f"FAIL {name}: lint: {where}")
            failures += 1
        else:
            print(f"ok   {name}: lint")
        variants = [("default values", {})] + [
            (os.path.relpath(f, chart), yaml.safe_load(open(f)) or {})
            for f in sorted(glob.glob(os.path.join(chart, "ci", "*-values.yaml")))]
        for label, values in variants:
            try:
                objects = render(config, chart, values)
            except Exception as e:  # noqa: BLE001 - report and go on
                print(f"FAIL {name} ({label}): render: {e}")
                failures += 1
                continue
            kinds = {}
            for o in objects:
                kinds[o["kind"]] = kinds.get(o["kind"], 0) + 1
                if o["kind"] in CUSTOM_KINDS:
                    continue
                try:
                    kubernetes_validate.validate(o, KUBE_VERSION, strict=True)
                except Exception as e:  # noqa: BLE001
                    print(f"FAIL {name} ({label}): {o['kind']}/{o['metadata'].get('name')}: {e}")
                    failures += 1
            for o in objects:
                failures += check_args(name, label, o) + check_files(name, label, o)
            if not objects:
                print(f"FAIL {name} ({label}): rendered nothing")
                failures += 1
            summary = ", ".join(f"{n} {k}" for k, n in sorted(kinds.items()))
            print(f"ok   {name} ({label}): {len(objects)} manifests valid for Kubernetes {KUBE_VERSION}: {summary}")
        for bad in sorted(glob.glob(os.path.join(chart, "ci", "invalid", "*.yaml"))):
            try:
                render(config, chart, yaml.safe_load(open(bad)) or {})
                print(f"FAIL {name}: {os.path.relpath(bad, chart)} was accepted; values.schema.json must refuse it")
                failures += 1
            except Exception as e:  # noqa: BLE001
                text = str(e)
                if "values don't meet the specifications of the schema" not in text:
                    print(f"FAIL {name}: {os.path.relpath(bad, chart)} failed, but not on the schema: {text[:200]}")
                    failures += 1
                    continue
                detail = [l.strip() for l in text.splitlines()[1:] if l.strip()]
                print(f"ok   {name}: schema refuses {os.path.relpath(bad, chart)} ({(detail or [''])[-1][:120]})")
    server.shutdown()
    if not sys.argv[1:]:
        failures += check_runbook()
    print(f"{len(charts)} charts, {failures} failures")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
