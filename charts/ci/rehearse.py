#!/usr/bin/env python3
"""The chart rehearsal: render the umbrella chart and run what Kubernetes would run, here.

Renders charts/perfbed with charts/perfbed/ci/rehearsal-values.yaml through the real Helm engine
(check.py's stub API server), then plays kubelet, kube-proxy and the Job controller:

  * every pod is a process in its own network namespace (`pbr-<n>`) with its own address on a
    bridge (in a namespace of its own, `pbr-node`, so the host's network is not touched);
  * its container's args and env as rendered (`$(VAR)` expanded as Kubernetes does,
    JOB_COMPLETION_INDEX for an Indexed Job, secretKeyRef resolved from the rendered Secrets),
    ConfigMaps and Secrets written to files at their mount paths (subPath too) in a mount
    namespace per pod, the PVC one host directory shared by every pod that mounts it;
  * run from the image's root filesystem (scripts/image --rootfs), read-only as the
    securityContext says, with chroot --userspec as runAsUser (and fsGroup);
  * Service names in per-namespace hosts files (/etc/netns/<ns>/hosts, the file `ip netns exec`
    mounts; bound over the image's /etc/hosts), ClusterIPs spread over the Service's ready pods
    by iptables DNAT `statistic --mode random` rules in every pod's nat OUTPUT chain (what
    kube-proxy does), so callbacks land on the wrong driver replica;
  * one driver replica's wall clock shifted by +2 s (libfaketime, monotonic untouched);
  * Deployments wait for readiness as their probes say; the ops Jobs run to completion in
    order; the load Job's pods and its collector then run together, as they would.

Then it judges the run: the merged report agrees id by id with the hub's ledger, the replicas'
target rates add up to the scenario's, relayed callbacks > 0, and prints the clock offsets the
replicas measured. Namespaces, rules, mounts and processes are removed on success, failure and
interrupt. Needs root, ip, iptables, unshare, chroot and Debian's faketime.

Usage: charts/ci/rehearse.py [--binary PATH] [--replicas N] [--keep DIR] [--no-shift]
"""

import argparse
import base64
import json
import os
import re
import shutil
import signal
import ssl
import subprocess
import sys
import tempfile
import time
import urllib.request

import yaml

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
RELEASE, NAMESPACE = "perfbed", "perfbed"
NODE_NS = "pbr-node"
POD_NET = "10.77.0"          # pods: .2 … ; the bridge: .1
SVC_NET = "10.96.77"         # ClusterIPs
FAKETIME_LIB = "/usr/lib/x86_64-linux-gnu/faketime/libfaketime.so.1"
SHIFT = "+2s"
IMAGE_ENV = {"PATH": "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
             "SSL_CERT_FILE": "/etc/ssl/certs/ca-certificates.crt"}
IMAGE_USER = (65532, 65532)
ENTRYPOINT = "/usr/local/bin/perfbed"


def say(msg):
    print(f"==> {msg}", flush=True)


class Fail(Exception):
    pass


def sh(*cmd, check=True, **kw):
    r = subprocess.run(list(cmd), capture_output=True, text=True, **kw)
    if check and r.returncode != 0:
        raise Fail(f"{' '.join(cmd)}: exit {r.returncode}: {r.stderr.strip() or r.stdout.strip()}")
    return r


# --- rendering ----------------------------------------------------------------------------

def render(values_files, overrides):
    sys.path.insert(0, HERE)
    import check  # noqa: E402  (the stub API server and Helm's install against it)
    values = {}
    for f in values_files:
        deep_merge(values, yaml.safe_load(open(f)) or {})
    deep_merge(values, overrides)
    server, config = check.stub_server()
    try:
        return check.render(config, os.path.join(ROOT, "charts", "perfbed"), values, release=RELEASE)
    finally:
        server.shutdown()


def deep_merge(a, b):
    for k, v in b.items():
        if isinstance(v, dict) and isinstance(a.get(k), dict):
            deep_merge(a[k], v)
        else:
            a[k] = v
    return a


def expand(s, env):
    """Kubernetes' $(VAR) expansion in args: defined variables replaced, $$ escapes."""
    def sub(m):
        if m.group(0) == "$$":
            return "$"
        return env.get(m.group(1), m.group(0))
    return re.sub(r"\$\$|\$\(([A-Za-z_][A-Za-z0-9_]*)\)", sub, s)


# --- the plan -----------------------------------------------------------------------------

class Pod:
    def __init__(self, owner, kind, name, spec, labels, index=None):
        self.owner, self.kind, self.name, self.spec, self.labels, self.index = owner, kind, name, spec, labels, index
        self.ns = None
        self.ip = None
        self.proc = None
        self.log = None
        self.ready = False
        self.extra_env = {}
        self.hostname = spec.get("hostname") or (f"{owner}-{index}" if index is not None else name)
        self.subdomain = spec.get("subdomain")

    @property
    def container(self):
        cs = self.spec["containers"]
        if len(cs) != 1 or self.spec.get("initContainers"):
            raise Fail(f"{self.name}: the rehearsal runs one container per pod, no init containers")
        return cs[0]


class Cluster:
    def __init__(self, work, rootfs, objects):
        self.work, self.rootfs = work, rootfs
        self.by_kind = {}
        for o in objects:
            self.by_kind.setdefault(o["kind"], {})[o["metadata"]["name"]] = o
        self.pods = []
        self.services = {}   # name -> (clusterIP or None, spec)
        self.next_ip = 2
        self.created_ns = []
        self.netns_dirs = []
        self.started = []

    # objects
    def secret_data(self, name):
        s = self.by_kind.get("Secret", {}).get(name)
        if s is None:
            return None
        data = {k: base64.b64decode(v).decode() for k, v in (s.get("data") or {}).items()}
        data.update(s.get("stringData") or {})
        return data

    def configmap_data(self, name):
        c = self.by_kind.get("ConfigMap", {}).get(name)
        return None if c is None else dict(c.get("data") or {})

    def add_pod(self, pod):
        pod.ns = f"pbr-{len(self.pods) + 1}"
        pod.ip = f"{POD_NET}.{self.next_ip}"
        self.next_ip += 1
        self.pods.append(pod)
        return pod

    def plan_services(self):
        i = 1
        for name, s in sorted(self.by_kind.get("Service", {}).items()):
            headless = s["spec"].get("clusterIP") == "None"
            self.services[name] = (None if headless else f"{SVC_NET}.{i}", s["spec"])
            i += 0 if headless else 1

    # network
    def network_up(self):
        sh("ip", "netns", "add", NODE_NS)
        self.created_ns.append(NODE_NS)
        sh("ip", "-n", NODE_NS, "link", "set", "lo", "up")
        sh("ip", "-n", NODE_NS, "link", "add", "br0", "type", "bridge")
        sh("ip", "-n", NODE_NS, "addr", "add", f"{POD_NET}.1/24", "dev", "br0")
        sh("ip", "-n", NODE_NS, "link", "set", "br0", "up")

    def pod_network(self, pod, k):
        sh("ip", "netns", "add", pod.ns)
        self.created_ns.append(pod.ns)
        host_if = f"pbrv{k}"
        sh("ip", "link", "add", host_if, "type", "veth", "peer", "name", "eth0", "netns", pod.ns)
        sh("ip", "link", "set", host_if, "netns", NODE_NS)
        sh("ip", "-n", NODE_NS, "link", "set", host_if, "master", "br0", "up")
        sh("ip", "-n", pod.ns, "addr", "add", f"{pod.ip}/24", "dev", "eth0")
        sh("ip", "-n", pod.ns, "link", "set", "eth0", "up")
        sh("ip", "-n", pod.ns, "link", "set", "lo", "up")
        sh("ip", "-n", pod.ns, "route", "add", "default", "via", f"{POD_NET}.1")
        sh("ip", "netns", "exec", pod.ns, "iptables", "-t", "nat", "-N", "PB-SERVICES")
        sh("ip", "netns", "exec", pod.ns, "iptables", "-t", "nat", "-A", "OUTPUT", "-j", "PB-SERVICES")
        sh("ip", "netns", "exec", pod.ns, "iptables", "-t", "filter", "-N", "PB-NO-ENDPOINTS")
        sh("ip", "netns", "exec", pod.ns, "iptables", "-t", "filter", "-A", "OUTPUT", "-j", "PB-NO-ENDPOINTS")

    def hosts_file(self, pod):
        lines = ["127.0.0.1 localhost", f"{pod.ip} {pod.hostname}"]
        suffixes = ["", f".{NAMESPACE}", f".{NAMESPACE}.svc", f".{NAMESPACE}.svc.cluster.local"]
        for name, (ip, spec) in self.services.items():
            if ip:
                lines.append(ip + " " + " ".join(name + s for s in suffixes))
            else:
                # Headless: <hostname>.<subdomain> for the pods that name it as subdomain.
                for p in self.pods:
                    if p.subdomain == name and self.selects(spec, p):
                        lines.append(p.ip + " " + " ".join(f"{p.hostname}.{name}{s}" for s in suffixes))
        d = f"/etc/netns/{pod.ns}"
        os.makedirs(d, exist_ok=True)
        self.netns_dirs.append(d)
        with open(f"{d}/hosts", "w") as f:
            f.write("\n".join(lines) + "\n")
        return f"{d}/hosts"

    @staticmethod
    def selects(spec, pod):
        sel = spec.get("selector") or {}
        return bool(sel) and all(pod.labels.get(k) == v for k, v in sel.items())

    def sync_rules(self):
        """kube-proxy: every ClusterIP port spread over its ready endpoints, in every pod."""
        rules = ["*nat", ":PB-SERVICES - [0:0]"]
        reject = ["*filter", ":PB-NO-ENDPOINTS - [0:0]"]
        for name, (ip, spec) in sorted(self.services.items()):
            if not ip:
                continue
            eps = [p for p in self.pods if p.ready and self.selects(spec, p)]
            for port in spec["ports"]:
                targets = [(p, self.target_port(p, port)) for p in eps]
                n = len(targets)
                for i, (p, tp) in enumerate(targets):
                    prob = [] if i == n - 1 else ["-m", "statistic", "--mode", "random",
                                                  "--probability", f"{1.0 / (n - i):.11f}"]
                    rules.append(" ".join(["-A PB-SERVICES", "-d", f"{ip}/32", "-p", "tcp", "--dport",
                                           str(port["port"]), *prob, "-j", "DNAT", "--to-destination",
                                           f"{p.ip}:{tp}"]))
                if n == 0:
                    # kube-proxy: a Service with no ready endpoint refuses connections.
                    reject.append(f"-A PB-NO-ENDPOINTS -d {ip}/32 -p tcp --dport {port['port']} "
                                  "-j REJECT --reject-with tcp-reset")
        rules.append("COMMIT")
        reject.append("COMMIT")
        text = "\n".join(rules + reject) + "\n"
        for p in self.pods:
            if p.ns in self.created_ns:
                sh("ip", "netns", "exec", p.ns, "iptables-restore", "--noflush", input=text)

    @staticmethod
    def target_port(pod, port):
        tp = port.get("targetPort", port["port"])
        if isinstance(tp, int):
            return tp
        for c in pod.spec["containers"]:
            for cp in c.get("ports") or []:
                if cp.get("name") == tp:
                    return cp["containerPort"]
        raise Fail(f"{pod.name}: no container port named {tp}")

    # pods
    def env(self, pod):
        c = pod.container
        env = dict(IMAGE_ENV)
        if pod.index is not None:
            env["JOB_COMPLETION_INDEX"] = str(pod.index)
        for e in c.get("env") or []:
            if "value" in e:
                env[e["name"]] = expand(str(e["value"]), env)
            elif "secretKeyRef" in (e.get("valueFrom") or {}):
                ref = e["valueFrom"]["secretKeyRef"]
                data = self.secret_data(ref["name"])
                if data is None or ref["key"] not in data:
                    if ref.get("optional"):
                        continue
                    raise Fail(f"{pod.name}: env {e['name']}: Secret {ref['name']} key {ref['key']} not rendered "
                               "(the pod would stay in CreateContainerConfigError)")
                env[e["name"]] = data[ref["key"]]
            else:
                raise Fail(f"{pod.name}: env {e['name']}: unsupported valueFrom {e.get('valueFrom')}")
        env.update(pod.extra_env)
        return env

    def volumes(self, pod):
        """[(host path, container path, read only)] with the volumes' files written."""
        base = os.path.join(self.work, "pods", pod.name)
        vols = {v["name"]: v for v in pod.spec.get("volumes") or []}
        fs_group = (pod.spec.get("securityContext") or {}).get("fsGroup")
        out = []
        for m in pod.container.get("volumeMounts") or []:
            v = vols.get(m["name"])
            if v is None:
                raise Fail(f"{pod.name}: volumeMount {m['name']} has no volume")
            if "configMap" in v or "secret" in v:
                if "configMap" in v:
                    data, what = self.configmap_data(v["configMap"]["name"]), f"ConfigMap {v['configMap']['name']}"
                else:
                    data, what = self.secret_data(v["secret"]["secretName"]), f"Secret {v['secret']['secretName']}"
                if data is None:
                    raise Fail(f"{pod.name}: volume {m['name']}: {what} not rendered (the pod would stay ContainerCreating)")
                d = os.path.join(base, "volumes", m["name"])
                if not os.path.isdir(d):
                    os.makedirs(d)
                    mode = (v.get("secret") or v.get("configMap")).get("defaultMode", 0o644)
                    for k, text in data.items():
                        with open(os.path.join(d, k), "w") as f:
                            f.write(text)
                        os.chmod(os.path.join(d, k), mode)
                        if fs_group is not None:
                            os.chown(os.path.join(d, k), 0, fs_group)
                src = d
                if m.get("subPath"):
                    src = os.path.join(d, m["subPath"])
                    if not os.path.exists(src):
                        raise Fail(f"{pod.name}: subPath {m['subPath']} not in {what}")
                out.append((src, m["mountPath"], True))
            elif "persistentVolumeClaim" in v:
                claim = v["persistentVolumeClaim"]["claimName"]
                if claim not in self.by_kind.get("PersistentVolumeClaim", {}):
                    raise Fail(f"{pod.name}: PVC {claim} not rendered")
                d = os.path.join(self.work, "pvc", claim)
                if not os.path.isdir(d):
                    os.makedirs(d)
                    os.chown(d, 0, fs_group if fs_group is not None else 0)
                    os.chmod(d, 0o2775)
                out.append((d, m["mountPath"], bool(m.get("readOnly"))))
            elif "emptyDir" in v:
                d = os.path.join(base, "empty", m["name"])
                os.makedirs(d, exist_ok=True)
                os.chmod(d, 0o777)
                out.append((d, m["mountPath"], False))
            else:
                raise Fail(f"{pod.name}: volume {m['name']}: unsupported kind {list(v)}")
        return out

    def start(self, pod):
        c = pod.container
        env = self.env(pod)
        args = [expand(a, env) for a in (c.get("command") or [ENTRYPOINT]) + (c.get("args") or [])]
        psc = pod.spec.get("securityContext") or {}
        csc = c.get("securityContext") or {}
        uid = csc.get("runAsUser", psc.get("runAsUser", IMAGE_USER[0]))
        gid = csc.get("runAsGroup", psc.get("runAsGroup", IMAGE_USER[1]))
        if (csc.get("runAsNonRoot") or psc.get("runAsNonRoot")) and uid == 0:
            raise Fail(f"{pod.name}: runAsNonRoot with uid 0")
        groups = [str(psc["fsGroup"])] if "fsGroup" in psc else []
        r = self.rootfs
        mounts = self.volumes(pod)
        hosts = self.hosts_file(pod)
        script = ["set -e", f"hostname {q(pod.hostname)}",
                  f"mount --bind {q(r)} {q(r)}"]
        if csc.get("readOnlyRootFilesystem"):
            script.append(f"mount -o remount,bind,ro {q(r)}")
        script += [f"mount -t proc proc {q(r)}/proc",
                   f"mount -t tmpfs -o mode=755,size=1m tmpfs {q(r)}/dev"]
        # Every container gets a /dev/shm (libfaketime's semaphores live there).
        script += [f"mkdir {q(r)}/dev/shm", f"mount -t tmpfs -o mode=1777,size=16m shm {q(r)}/dev/shm"]
        for d in ("null", "zero", "random", "urandom", "full"):
            script += [f"touch {q(r)}/dev/{d}", f"mount --bind /dev/{d} {q(r)}/dev/{d}"]
        script.append(f"mount --bind {q(hosts)} {q(r)}/etc/hosts")
        for src, dst, ro in mounts:
            script.append(f"mount --bind {q(src)} {q(r + dst)}")
            if ro:
                script.append(f"mount -o remount,bind,ro {q(r + dst)}")
        if "LD_PRELOAD" in pod.extra_env:
            script.append(f"mount --bind {q(FAKETIME_LIB)} {q(r + FAKETIME_LIB)}")
        userspec = f"--userspec={uid}:{gid}" + (f" --groups={','.join(groups)}" if groups else "")
        script.append("exec env -i " + " ".join(q(f"{k}={v}") for k, v in env.items()) +
                      f" chroot {userspec} {q(r)} " + " ".join(q(a) for a in args))
        os.makedirs(os.path.join(self.work, "logs"), exist_ok=True)
        pod.log = os.path.join(self.work, "logs", pod.name + ".log")
        with open(os.path.join(self.work, "pods", pod.name + ".sh"), "w") as f:
            f.write("\n".join(script) + "\n")
        log = open(pod.log, "w")
        pod.proc = subprocess.Popen(
            ["nice", "-n", "19", "ip", "netns", "exec", pod.ns, "unshare", "--mount", "--uts",
             "--propagation", "private", "sh", os.path.join(self.work, "pods", pod.name + ".sh")],
            stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
        self.started.append(pod)

    def prepare_mount_points(self):
        """What the runtime's writable layer would hold: the mount points of every pod."""
        r = self.rootfs
        for d in ("proc", "dev"):
            os.makedirs(os.path.join(r, d), exist_ok=True)
        open(os.path.join(r, "etc", "hosts"), "a").close()
        os.makedirs(r + os.path.dirname(FAKETIME_LIB), exist_ok=True)
        open(r + FAKETIME_LIB, "a").close()
        for pod in self.pods:
            vols = {v["name"]: v for v in pod.spec.get("volumes") or []}
            for m in pod.container.get("volumeMounts") or []:
                v = vols.get(m["name"], {})
                target = r + m["mountPath"]
                if m.get("subPath") and ("configMap" in v or "secret" in v):
                    os.makedirs(os.path.dirname(target), exist_ok=True)
                    open(target, "a").close()
                else:
                    os.makedirs(target, exist_ok=True)

    def probe(self, pod):
        """The readiness probe as rendered (httpGet), from the node; no probe: ready when running."""
        p = pod.container.get("readinessProbe")
        if pod.proc.poll() is not None:
            return False
        if not p:
            return True
        h = p.get("httpGet")
        if not h:
            raise Fail(f"{pod.name}: readiness probe {list(p)} not supported")
        port = h["port"] if isinstance(h["port"], int) else self.target_port(pod, {"targetPort": h["port"], "port": 0})
        url = f"{h.get('scheme', 'HTTP').lower()}://{pod.ip}:{port}{h.get('path', '/')}"
        code = ("import ssl,sys,urllib.request\n"
                "try:\n"
                f"  r=urllib.request.urlopen({url!r},timeout={p.get('timeoutSeconds', 1)},context=ssl._create_unverified_context())\n"
                "  sys.exit(0 if 200<=r.status<400 else 1)\n"
                "except Exception: sys.exit(1)\n")
        return subprocess.run(["ip", "netns", "exec", NODE_NS, "python3", "-c", code]).returncode == 0

    def stop_all(self):
        for pod in self.started:
            if pod.proc and pod.proc.poll() is None:
                try:
                    os.killpg(pod.proc.pid, signal.SIGTERM)
                except ProcessLookupError:
                    pass
        deadline = time.time() + 10
        for pod in self.started:
            if pod.proc:
                try:
                    pod.proc.wait(max(0.1, deadline - time.time()))
                except subprocess.TimeoutExpired:
                    os.killpg(pod.proc.pid, signal.SIGKILL)
                    pod.proc.wait()

    def cleanup(self):
        self.stop_all()
        for ns in reversed(self.created_ns):
            sh("ip", "netns", "del", ns, check=False)
        for d in self.netns_dirs:
            shutil.rmtree(d, ignore_errors=True)
        left = [n for n in sh("ip", "netns", "list", check=False).stdout.split() if re.fullmatch(r"pbr-(node|\d+)", n)]
        if left:
            print(f"rehearse: warning: namespaces left: {left}", file=sys.stderr)


def q(s):
    return "'" + str(s).replace("'", "'\\''") + "'"


def pods_of(cluster, kind, obj):
    spec = obj["spec"]
    tpl = spec["template"]
    labels = dict((tpl.get("metadata") or {}).get("labels") or {})
    name = obj["metadata"]["name"]
    if kind == "Deployment":
        return [Pod(name, kind, f"{name}-{i}", tpl["spec"], labels) for i in range(spec.get("replicas", 1))]
    if kind == "Job":
        n = spec.get("completions", 1)
        if spec.get("parallelism", 1) != n and n > 1:
            raise Fail(f"Job {name}: parallelism {spec.get('parallelism')} != completions {n}: not rehearsed")
        indexed = spec.get("completionMode") == "Indexed"
        return [Pod(name, kind, f"{name}-{i}", tpl["spec"], labels, index=i if indexed else None) for i in range(n)]
    raise Fail(f"{kind} {name}: not rehearsed")


def wait_exit(pods, timeout, what):
    deadline = time.time() + timeout
    for p in pods:
        try:
            p.proc.wait(max(1, deadline - time.time()))
        except subprocess.TimeoutExpired:
            raise Fail(f"{what}: {p.name} still running after {timeout}s (log {p.log})")
    bad = [p for p in pods if p.proc.returncode != 0]
    return bad


def tail(path, n=15):
    try:
        return "".join(open(path).readlines()[-n:])
    except OSError:
        return ""


# --- main ---------------------------------------------------------------------------------

def preflight():
    if os.geteuid() != 0:
        raise Fail("needs root (network namespaces, iptables, mounts, chroot): run it with sudo")
    for tool in ("ip", "iptables", "iptables-restore", "unshare", "chroot", "mount", "nice"):
        if shutil.which(tool) is None:
            raise Fail(f"`{tool}` not found: install iproute2 / iptables / util-linux / coreutils")
    if sh("ip", "netns", "list", check=False).returncode != 0:
        raise Fail("`ip netns` does not work here")
    if not os.path.exists(FAKETIME_LIB):
        raise Fail(f"{FAKETIME_LIB} missing: apt-get install faketime")
    left = [n for n in sh("ip", "netns", "list").stdout.split() if re.fullmatch(r"pbr-(node|\d+)", n)]
    if left:
        raise Fail(f"namespaces of another rehearsal exist: {' '.join(left)} (ip netns del them)")


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--binary", default=os.environ.get("PERFBED_BIN") or os.path.join(
        os.environ.get("CARGO_TARGET_DIR") or os.path.expanduser("~/.cache/perfbed/target"), "debug", "perfbed"))
    ap.add_argument("--replicas", type=int, help="driver replicas (default: the values file's)")
    ap.add_argument("--no-shift", action="store_true", help="no replica with a shifted clock")
    ap.add_argument("--keep", help="work directory to use and keep (logs, rendered manifests, results)")
    a = ap.parse_args()
    t0 = time.time()
    preflight()
    if not os.access(a.binary, os.X_OK):
        raise Fail(f"no perfbed binary at {a.binary} (cargo build -p perfbed, or --binary / PERFBED_BIN)")
    work = a.keep or tempfile.mkdtemp(prefix="perfbed-rehearse.")
    os.makedirs(work, exist_ok=True)
    os.chmod(work, 0o755)
    cluster = None

    def on_signal(sig, _frame):
        raise KeyboardInterrupt(f"signal {sig}")
    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGHUP, on_signal)
    try:
        rootfs = os.path.join(work, "rootfs")
        if not os.path.isdir(rootfs):
            say("image root filesystem (scripts/image --rootfs)")
            sh(os.path.join(ROOT, "scripts", "image"), "--binary", a.binary, "--rootfs", rootfs)
        say("test PKI (perfbed pki) -> Secret rehearsal-jws")
        pki = os.path.join(work, "pki")
        if not os.path.isdir(pki):
            sh(a.binary, "pki", "--out", pki, "--fsp", "perffsp1,perffsp2,perffsp5,perffsp6")
        jws = {f: open(os.path.join(pki, f)).read() for f in sorted(os.listdir(pki)) if f.endswith((".key", ".pem"))}
        operator_secrets = [{"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "rehearsal-jws"},
                             "stringData": jws}]
        values = [os.path.join(ROOT, "charts", "perfbed", "ci", "rehearsal-values.yaml")]
        overrides = {"load": {"replicas": a.replicas}} if a.replicas else {}
        say("render charts/perfbed (helm install, release perfbed, namespace perfbed)")
        objects = render(values, overrides) + operator_secrets
        with open(os.path.join(work, "manifests.yaml"), "w") as f:
            yaml.safe_dump_all(objects, f)
        cluster = Cluster(work, rootfs, objects)
        cluster.plan_services()
        deps = [pods_of(cluster, "Deployment", o) for o in cluster.by_kind.get("Deployment", {}).values()]
        jobs = cluster.by_kind.get("Job", {})
        # The ops Jobs, by their component label (app.kubernetes.io/name is the alias, `ops`).
        order = {"onboard": 0, "msisdn-seed": 1, "positions-reset": 2}
        ops = [j for j in jobs.values() if j["metadata"]["labels"].get("app.kubernetes.io/component") in order]
        ops.sort(key=lambda j: order.get(j["metadata"]["labels"].get("app.kubernetes.io/component"), 9))
        drivers = [j for j in jobs.values() if j["metadata"]["labels"].get("app.kubernetes.io/component") == "driver"]
        collectors = [j for j in jobs.values() if j["metadata"]["labels"].get("app.kubernetes.io/component") == "collector"]
        if len(drivers) != 1 or len(collectors) != 1:
            raise Fail(f"expected one driver Job and one collector Job, got {len(drivers)} and {len(collectors)}")
        for group in deps:
            for p in group:
                cluster.add_pod(p)
        op_pods = [pods_of(cluster, "Job", j) for j in ops]
        for group in op_pods:
            for p in group:
                cluster.add_pod(p)
        driver_pods = [cluster.add_pod(p) for p in pods_of(cluster, "Job", drivers[0])]
        collector_pods = [cluster.add_pod(p) for p in pods_of(cluster, "Job", collectors[0])]
        shifted = None
        if not a.no_shift and len(driver_pods) > 1:
            shifted = driver_pods[1]
            shifted.extra_env = {"LD_PRELOAD": FAKETIME_LIB, "FAKETIME": SHIFT,
                                 "FAKETIME_DONT_FAKE_MONOTONIC": "1", "FAKETIME_NO_CACHE": "1",
}

        say(f"network: bridge {POD_NET}.1/24 in netns {NODE_NS}, {len(cluster.pods)} pod namespaces")
        cluster.network_up()
        for k, p in enumerate(cluster.pods):
            cluster.pod_network(p, k)
        cluster.prepare_mount_points()
        cluster.sync_rules()

        say("Deployments: " + ", ".join(f"{g[0].owner} ×{len(g)}" for g in deps))
        for g in deps:
            for p in g:
                cluster.start(p)
        want = [p for g in deps for p in g]
        deadline = time.time() + 180
        while not all(p.ready for p in want):
            changed = False
            for p in want:
                if p.proc.poll() is not None:
                    raise Fail(f"{p.name} exited {p.proc.returncode} before it was ready:\n{tail(p.log)}")
                if not p.ready and cluster.probe(p):
                    p.ready = changed = True
                    say(f"ready: {p.name} ({p.ip})")
            if changed:
                cluster.sync_rules()
            if time.time() > deadline:
                raise Fail("not ready after 180 s: " + ", ".join(p.name for p in want if not p.ready))
            time.sleep(1)

        for group in op_pods:
            say(f"Job {group[0].owner}: {' '.join(group[0].container.get('args') or [])}")
            for p in group:
                cluster.start(p)
            bad = wait_exit(group, 300, group[0].owner)
            if bad:
                raise Fail(f"Job {group[0].owner} failed (exit {bad[0].proc.returncode}):\n{tail(bad[0].log)}")
            print(tail(group[0].log, 3).rstrip())

        # helm upgrade --set load.enabled=true would render start-at now: render again so the
        # start time is fresh, and take the driver Job from it (everything else is unchanged).
        fresh = render(values, overrides)
        fresh_driver = [o for o in fresh if o["kind"] == "Job" and o["metadata"]["name"] == drivers[0]["metadata"]["name"]][0]
        for p in driver_pods:
            p.spec = fresh_driver["spec"]["template"]["spec"]
        start_at = [x for x in driver_pods[0].container["args"] if x.startswith("--start-at=")][0]
        say(f"Job {drivers[0]['metadata']['name']} ({len(driver_pods)} pods, Indexed, {start_at}) "
            f"and its collector {collectors[0]['metadata']['name']}"
            + (f"; {shifted.name}'s clock {SHIFT} (faketime)" if shifted else ""))
        for p in driver_pods:
            cluster.start(p)
            p.ready = True   # no readiness probe: ready once running
        cluster.sync_rules()
        for p in collector_pods:
            cluster.start(p)
        bad = wait_exit(driver_pods, 600, "driver Job")
        cbad = wait_exit(collector_pods, 300, "collector Job")
        for p in driver_pods:
            p.ready = False
        verdict = judge(cluster, driver_pods, collector_pods, shifted, bad, cbad)
        say(f"rehearsal took {time.time() - t0:.0f} s; logs and results in {work}")
        return verdict
    finally:
        if cluster:
            say("cleanup: processes, namespaces, rules, hosts files")
            cluster.cleanup()
        if not a.keep:
            print(f"(work directory {work} kept for the logs; remove it when done)")


def judge(cluster, driver_pods, collector_pods, shifted, bad, cbad):
    problems = []
    for p in bad:
        problems.append(f"driver pod {p.name} exited {p.proc.returncode}:\n{tail(p.log)}")
    for p in cbad:
        problems.append(f"collector {p.name} exited {p.proc.returncode}:\n{tail(p.log, 30)}")
    relayed = 0
    for p in driver_pods:
        text = open(p.log).read()
        for line in text.splitlines():
            m = re.match(r"replica (\d+)/(\d+): relayed (\d+)", line)
            if m:
                relayed += int(m.group(3))
                print(f"   {p.name}: {line.strip()}")
            if "clock of replica" in line:
                print(f"   {p.name}: {line.strip()}")
    print(f"relayed callbacks (all replicas): {relayed}")
    if relayed <= 0:
        problems.append("no callback was relayed: the Service did not spread callbacks over the replicas")
    print(tail(collector_pods[0].log, 25).rstrip())
    pvc = os.path.join(cluster.work, "pvc")
    merged = [os.path.join(d, "report.json") for d, _, files in os.walk(pvc) if "report.json" in files and "merged" in d]
    if not merged:
        problems.append("no merged report.json on the results volume")
    else:
        m = json.load(open(merged[0]))
        print(f"merged report: {merged[0]}")
        xc = m.get("crosscheck") or {}
        print(f"   {xc.get('summary', 'no cross-check in the merged report')}")
        if not (xc.get("agrees") and (xc.get("ids") or {}).get("equal")):
            problems.append("the merged report does not agree id by id with the hub's ledger")
        # Replica target shares add up to the scenario's rate (the merged report's target).
        shares = []
        for d, _, files in os.walk(pvc):
            if "report.json" in files and "/replica-" in d:
                shares.append(json.load(open(os.path.join(d, "report.json"))).get("target_tps"))
        total = sum(x for x in shares if x is not None)
        print(f"   replica target rates {shares} add up to {total:g}/s; merged target {m.get('target_tps')}/s")
        if None in shares or len(shares) != len(driver_pods) or abs(total - (m.get("target_tps") or -1)) > 1e-6:
            problems.append(f"replica target rates {shares} do not add up to the merged {m.get('target_tps')}")
    if problems:
        print("REHEARSAL FAILED:\n- " + "\n- ".join(problems))
        return 1
    print("REHEARSAL PASSED")
    return 0


if __name__ == "__main__":
    try:
        sys.exit(main())
    except Fail as e:
        print(f"rehearse: error: {e}", file=sys.stderr)
        sys.exit(1)
    except KeyboardInterrupt as e:
        print(f"rehearse: interrupted ({e}); cleaned up", file=sys.stderr)
        sys.exit(130)
