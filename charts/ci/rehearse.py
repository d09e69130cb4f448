#!/usr/bin/env python3
"""The chart rehearsal: render the umbrella chart and run what Kubernetes would run, here.

Renders charts/perfbed with charts/perfbed/ci/rehearsal-values.yaml (and rehearsal-iso.yaml over
it) through the real Helm engine (check.py's stub API server), then plays kubelet, kube-proxy
and the Job controller:

  * every pod is a process in its own network namespace (`pbr-<n>`) with its own address on a
    bridge (in a namespace of its own, `pbr-node`, so the host's network is not touched);
  * its container's args and env as rendered (`$(VAR)` expanded as Kubernetes does,
    JOB_COMPLETION_INDEX for an Indexed Job, secretKeyRef resolved from the rendered Secrets),
    ConfigMaps and Secrets written to files at their mount paths (subPath too) in a mount
    namespace per pod, the PVC one host directory shared by every pod that mounts it;
  * run from the image's root filesystem (scripts/image --rootfs, or the one
    `scripts/image --check --keep-rootfs` unpacked from the archive), read-only as the
    securityContext says, with chroot --userspec as runAsUser (and fsGroup);
  * Service names in per-namespace hosts files (/etc/netns/<ns>/hosts, the file `ip netns exec`
    mounts; bound over the image's /etc/hosts, rewritten when an upgrade adds Services or
    pods), ClusterIPs spread over the Service's ready pods by iptables DNAT `statistic --mode
    random` rules in every pod's nat OUTPUT chain (what kube-proxy does), so callbacks land on
    the wrong driver replica;
  * readiness probes as rendered (httpGet, or tcpSocket: with mTLS the kubelet has no client
    certificate); Deployments wait for them; the ops Jobs run to completion in order;
  * the Secrets the runbook makes with kubectl from `perfbed pki` (JWS keys, one server
    certificate, one client certificate).

Two installs (INSTALLS), each a sequence of load runs, each run what `helm upgrade
--reuse-values --set load.runId=ID ...` starts (a driver Job and its collector):
  fspiop-mtls  FSPIOP, mTLS + JWS everywhere, a switch with a capacity:
               stress-x4 (replica 1 shifted), stress-x1 (one process), p2p-shifted (4
               replicas, replica 1's wall clock +2 s by libfaketime, monotonic untouched),
               p2p-unshifted (replica 1 under libfaketime at +0 s: the same process),
               p2p-unshifted-2, p2p-shifted-2 (ABBA: the pairs' means cancel a drift of the
               machine's load over the runs);
  iso20022     ISO 20022, JWS: iso-p2p (4 replicas, replica 1 shifted).
Judged per run: driver and collector exit 0 (a stress run may exit 1: it broke), the merged
report agrees id by id with the hub's ledger, the replicas' target rates add up to the
scenario's rate (each its 1/N share), relayed callbacks > 0, every peer measured the shifted
replica at +2000 ms (±50); in each shifted p2p run, the shifted replica's own e2e p50 within
5 ms of its unshifted peers'. Across runs: the mean e2e p50 of the two shifted runs within 5 ms
of the two unshifted runs' mean, stress-x4's breaking point equal to
stress-x1's within one step. Prints the relayed callbacks and the clock offsets measured.
Namespaces, rules, mounts and processes are removed on success, failure and interrupt.
Needs root, ip, iptables, unshare, chroot and Debian's faketime.

`--commands` prints the helm/kubectl commands that do the same on a cluster (docs/runbook.md
holds them; charts/ci/check.py fails when they differ). `--break WHAT` breaks one thing on
purpose to see the checks fail (BREAKS).

Usage: charts/ci/rehearse.py [--binary PATH] [--rootfs DIR] [--only RUN,...] [--keep DIR]
                             [--break share|crosscheck|relay] [--commands]
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
POD_NICE = -10


T0 = time.time()


def say(msg):
    print(f"==> {msg}  (+{time.time() - T0:.0f}s)", flush=True)


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
        self.volume_override = {}   # volume name -> {key: text}: --break only
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
        """Schedules a pod: its namespace, address and veth (once the bridge is up)."""
        pod.ns = f"pbr-{len(self.pods) + 1}"
        pod.ip = f"{POD_NET}.{self.next_ip}"
        self.next_ip += 1
        if self.next_ip > 250:
            raise Fail("more than 248 pods in one rehearsal")
        self.pods.append(pod)
        if NODE_NS in self.created_ns:
            self.pod_network(pod, len(self.pods) - 1)
        return pod

    def plan_services(self):
        """A ClusterIP for every Service not planned yet (new ones come with an upgrade)."""
        for name, s in sorted(self.by_kind.get("Service", {}).items()):
            if name in self.services:
                continue
            headless = s["spec"].get("clusterIP") == "None"
            taken = sum(1 for ip, _ in self.services.values() if ip)
            self.services[name] = (None if headless else f"{SVC_NET}.{taken + 1}", s["spec"])

    def apply(self, objects):
        """`helm upgrade`: the rendering's objects replace those of the same kind and name."""
        for o in objects:
            self.by_kind.setdefault(o["kind"], {})[o["metadata"]["name"]] = o
        self.plan_services()

    def refresh_hosts(self):
        """Cluster DNS follows Services and pods: rewrite every running pod's hosts file (in
        place: the file bound over its /etc/hosts is the same inode)."""
        for p in self.started:
            if p.proc and p.proc.poll() is None:
                self.hosts_file(p)

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
        if d not in self.netns_dirs:
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
                data = {**data, **pod.volume_override.get(m["name"], {})}
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
        # At POD_NICE whatever this script's own niceness (scripts/test runs it at 10): the
        # runs measure latencies, and a pod starved by a compiler next to it would put the
        # machine's load into them, not the chart's behaviour.
        pod.proc = subprocess.Popen(
            ["ip", "netns", "exec", pod.ns, "unshare", "--mount", "--uts",
             "--propagation", "private", "sh", os.path.join(self.work, "pods", pod.name + ".sh")],
            stdout=log, stderr=subprocess.STDOUT, start_new_session=True,
            preexec_fn=lambda: os.setpriority(os.PRIO_PROCESS, 0, POD_NICE))
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
        t = p.get("tcpSocket")
        if t:
            port = t["port"] if isinstance(t["port"], int) else self.target_port(pod, {"targetPort": t["port"], "port": 0})
            code = ("import socket,sys\n"
                    f"try: socket.create_connection(({pod.ip!r},{port}),timeout={p.get('timeoutSeconds', 1)}).close()\n"
                    "except Exception: sys.exit(1)\n")
            return subprocess.run(["ip", "netns", "exec", NODE_NS, "python3", "-c", code]).returncode == 0
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


CI = os.path.join(ROOT, "charts", "perfbed", "ci")
# The installs and the load runs each makes, in order: (install, values files, [(run id, scenario
# file or None for the values' own, replicas or None for the values', clock shifted)]). Each
# run is what `helm upgrade --reuse-values --set load.runId=ID [--set-file load.scenario=F]
# [--set load.replicas=N]` would start (docs/runbook.md).
INSTALLS = [
    ("fspiop-mtls", ["rehearsal-values.yaml"], [
        # The stress runs first: they also warm the deployment up (a first run after the
        # install was tens of ms slower here), so the two p2p runs compared compare like with like.
        ("stress-x4", "rehearsal-stress.toml", None, True),
        ("stress-x1", "rehearsal-stress.toml", 1, False),
        # Shifted, unshifted, unshifted, shifted (ABBA): the suite's own load beside the
        # rehearsal drifts over these two minutes, and the pairs' means cancel a steady drift
        # (one pair alone differed by 7 ms in a run whose same-run replicas agreed within 1 ms).
        ("p2p-shifted", None, None, True),
        ("p2p-unshifted", None, None, "+0s"),
        ("p2p-unshifted-2", None, None, "+0s"),
        ("p2p-shifted-2", None, None, True),
    ]),
    ("iso20022", ["rehearsal-values.yaml", "rehearsal-iso.yaml"], [
        ("iso-p2p", None, None, True),
    ]),
]
# Deliberate breaks (--break), to show that the rehearsal's checks fail when the thing they
# judge is broken. Each changes what the rehearsal runs, never what it judges.
BREAKS = {
    "share": "replica 0 mounts a scenario with twice the rate: its share is 2/4 of the rate, not 1/4",
    "crosscheck": "the collector runs without --hub-admin: no cross-check with the hub's ledger",
    "relay": "the peers' headless names are left out of the hosts files: no replica can relay",
}


class Run:
    def __init__(self, rid, scenario, replicas, shifted):
        self.id, self.scenario, self.replicas, self.shifted = rid, scenario, replicas, shifted
        self.drivers, self.collectors = [], []
        self.shifted_pod = None
        self.merged = None          # merged report.json or stress.json (dict)
        self.parts = []             # the replicas' reports
        self.relayed = 0
        self.offsets = []           # (pod, peer, offset ms, uncertainty ms) of the shifted pod
        self.problems = []


# The one server certificate's names: the Services as the values address them
# (<service>.<namespace>), any <service>.<namespace>.svc, and the driver pods as their peers
# address them (<pod>.<release>-perfbed-load-peers.<namespace>.svc). A wildcard needs two labels
# after it (webpki, like NSS), so `*.perfbed-load-peers` could not do.
PKI_FSPS = "perffsp1,perffsp2,perffsp5,perffsp6"
PKI_NAMES = ["perfbed-hub.perfbed,perfbed-perffsp.perfbed,perfbed-load.perfbed",
             "'*.perfbed.svc'", "'*.perfbed-load-peers.perfbed.svc'"]


def secrets_from_pki(binary, work):
    """`perfbed pki`, and the Secrets the runbook makes from it with kubectl create secret."""
    pki = os.path.join(work, "pki")
    shutil.rmtree(pki, ignore_errors=True)
    names = []
    for n in PKI_NAMES:
        names += ["--server-name", n.replace("'", "")]
    sh(binary, "pki", "--out", pki, "--fsp", PKI_FSPS, *names)
    read = lambda *p: open(os.path.join(pki, *p)).read()  # noqa: E731
    jws = {f: read(f) for f in sorted(os.listdir(pki)) if f.endswith((".key", ".pem"))}
    return [
        {"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "rehearsal-jws"}, "stringData": jws},
        {"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "rehearsal-tls"},
         "stringData": {"tls.crt": read("tls", "server.pem"), "tls.key": read("tls", "server.key"),
                        "ca.crt": read("tls", "ca.pem")}},
        {"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "rehearsal-client"},
         "stringData": {"ca.crt": read("tls", "ca.pem"), "client.crt": read("tls", "perffsp1.pem"),
                        "client.key": read("tls", "perffsp1.key")}},
    ]


def component(obj):
    return obj["metadata"]["labels"].get("app.kubernetes.io/component")


def install(name, values_files, runs, binary, work, rootfs, breaks):
    """One `helm install` and the load runs after it; returns the runs, judged one by one."""
    values = [os.path.join(CI, f) for f in values_files]
    say(f"install {name}: render charts/perfbed ({', '.join(values_files)}; release {RELEASE}, namespace {NAMESPACE})")
    objects = render(values, {"load": {"enabled": False}})
    say("test PKI (perfbed pki): Secrets rehearsal-jws, rehearsal-tls (servers), rehearsal-client (mTLS client)")
    secrets = secrets_from_pki(binary, os.path.join(work, name))
    objects += secrets
    with open(os.path.join(work, name, "manifests.yaml"), "w") as f:
        yaml.safe_dump_all(objects, f)
    cluster = Cluster(os.path.join(work, name), rootfs, objects)
    try:
        cluster.plan_services()
        deps = [pods_of(cluster, "Deployment", o) for o in cluster.by_kind.get("Deployment", {}).values()]
        order = {"onboard": 0, "msisdn-seed": 1, "positions-reset": 2}
        ops = sorted((j for j in cluster.by_kind.get("Job", {}).values() if component(j) in order),
                     key=lambda j: order[component(j)])
        say(f"network: bridge {POD_NET}.1/24 in netns {NODE_NS}")
        cluster.network_up()
        for g in deps:
            for p in g:
                cluster.add_pod(p)
        op_pods = [[cluster.add_pod(p) for p in pods_of(cluster, "Job", j)] for j in ops]
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
            time.sleep(0.5)

        for group in op_pods:
            say(f"Job {group[0].owner}: {' '.join(group[0].container.get('args') or [])}")
            for p in group:
                cluster.start(p)
            bad = wait_exit(group, 300, group[0].owner)
            if bad:
                raise Fail(f"Job {group[0].owner} failed (exit {bad[0].proc.returncode}):\n{tail(bad[0].log)}")
            print(tail(group[0].log, 3).rstrip())

        done = []
        for rid, scenario, replicas, shifted in runs:
            run = Run(rid, scenario, replicas, shifted)
            load_run(cluster, values, run, breaks)
            judge_run(cluster, run)
            done.append(run)
        return done
    finally:
        say(f"install {name}: cleanup (processes, namespaces, rules, hosts files)")
        cluster.cleanup()


# What every load run's `helm upgrade` sets: the load on, the ops Jobs off (an upgrade is a new
# revision, and the ops chart re-runs its Jobs on every revision, beside the load).
RUN_SETS = [("load.enabled", "true"), ("ops.onboard.enabled", "false"), ("ops.msisdnSeed.enabled", "false")]


def run_overrides(run):
    o = {"load": {"enabled": True, "runId": run.id}, "ops": {"onboard": {"enabled": False}, "msisdnSeed": {"enabled": False}}}
    if run.scenario:
        o["load"]["scenario"] = open(os.path.join(CI, run.scenario)).read()
    if run.replicas:
        o["load"]["replicas"] = run.replicas
    return o


def runbook_commands():
    """The helm and kubectl commands that do on a cluster what the rehearsal does here, from
    the same plan (INSTALLS, RUN_SETS, the Secrets): docs/runbook.md shows this text, and
    charts/ci/check.py fails when the runbook's copy differs."""
    ci = "charts/perfbed/ci"
    out = ["kubectl create namespace perfbed",
           f"perfbed pki --out pki --fsp {PKI_FSPS} \\",
           *[f"  --server-name {n}" + (" \\" if i < len(PKI_NAMES) - 1 else "") for i, n in enumerate(PKI_NAMES)],
           "kubectl -n perfbed create secret generic rehearsal-jws \\",
           "  $(for f in pki/*.key pki/*.pem; do echo --from-file=$f; done)",
           "kubectl -n perfbed create secret generic rehearsal-tls --from-file=tls.crt=pki/tls/server.pem \\",
           "  --from-file=tls.key=pki/tls/server.key --from-file=ca.crt=pki/tls/ca.pem",
           "kubectl -n perfbed create secret generic rehearsal-client --from-file=ca.crt=pki/tls/ca.pem \\",
           "  --from-file=client.crt=pki/tls/perffsp1.pem --from-file=client.key=pki/tls/perffsp1.key"]
    for k, (name, values, runs) in enumerate(INSTALLS):
        fs = " ".join(f"-f {ci}/{v}" for v in values)
        if k:
            out += ["", f"# {name}: a fresh install", "helm uninstall perfbed -n perfbed --wait"]
        else:
            out += ["", f"# {name}"]
        out += [f"helm install perfbed charts/perfbed -n perfbed {fs} \\", "  --set load.enabled=false --wait",
                "kubectl -n perfbed wait --for=condition=complete --timeout=5m \\",
                "  job/perfbed-ops-onboard-r1 job/perfbed-ops-msisdn-seed-r1"]
        for rid, scenario, replicas, _ in runs:
            sets = " ".join(f"--set {a}={b}" for a, b in RUN_SETS)
            extra = []
            if scenario:
                extra.append(f"--set-file load.scenario={ci}/{scenario}")
            if replicas:
                extra.append(f"--set load.replicas={replicas}")
            out += [f"helm upgrade perfbed charts/perfbed -n perfbed --reuse-values {sets} \\",
                    f"  --set load.runId={rid}" + "".join(" " + e for e in extra),
                    f"kubectl -n perfbed wait --for=condition=complete --timeout=10m job/{rid}-merge",
                    f"kubectl -n perfbed logs job/{rid}-merge | tail -30"]
    return "\n".join(out) + "\n"


def load_run(cluster, values, run, breaks):
    """`helm upgrade --reuse-values --set load.runId=…`: the load Job and its collector, run."""
    objects = render(values, run_overrides(run))   # start-at: rendered now (+ startDelaySeconds)
    jobs = [o for o in objects if o["kind"] == "Job"]
    drivers = [j for j in jobs if component(j) == "driver"]
    collectors = [j for j in jobs if component(j) == "collector"]
    if len(drivers) != 1 or len(collectors) != 1:
        raise Fail(f"expected one driver Job and one collector Job, got {len(drivers)} and {len(collectors)}")
    cluster.apply(o for o in objects if o["kind"] != "Job")   # the ops Jobs of r1 ran at install
    run.drivers = [cluster.add_pod(p) for p in pods_of(cluster, "Job", drivers[0])]
    run.collectors = [cluster.add_pod(p) for p in pods_of(cluster, "Job", collectors[0])]
    if "share" in breaks and not run.scenario:
        vols = {v["name"]: v for v in run.drivers[0].spec.get("volumes") or []}
        text = cluster.configmap_data(vols["scenario"]["configMap"]["name"])["scenario.toml"]
        run.drivers[0].volume_override["scenario"] = {
            "scenario.toml": re.sub(r"(?<![_a-z])rate = (\d+)", lambda m: f"rate = {2 * int(m.group(1))}", text)}
    if "crosscheck" in breaks:
        c = run.collectors[0].container
        c["args"] = [a for a in c["args"] if not a.startswith("--hub-admin=")]
    if "relay" in breaks:
        for p in run.drivers:
            p.subdomain = None
    if run.shifted and len(run.drivers) > 1:
        # The control run (shifted "+0s") runs replica 1 under libfaketime too, unshifted: the
        # same process, interposer and all, so the comparison sees the clock offset alone.
        pod = run.drivers[1]
        pod.extra_env = {"LD_PRELOAD": FAKETIME_LIB, "FAKETIME": SHIFT if run.shifted is True else run.shifted,
                         "FAKETIME_DONT_FAKE_MONOTONIC": "1"}
        if run.shifted is True:
            run.shifted_pod = pod
    cluster.prepare_mount_points()
    cluster.refresh_hosts()
    start_at = [x for x in run.drivers[0].container["args"] if x.startswith("--start-at=")][0]
    say(f"run {run.id}: Job {drivers[0]['metadata']['name']} ({len(run.drivers)} pods, Indexed, {start_at}) "
        f"and its collector {collectors[0]['metadata']['name']}"
        + (f"; {run.shifted_pod.name}'s clock {SHIFT} (faketime)" if run.shifted_pod else ""))
    for p in run.drivers:
        cluster.start(p)
        p.ready = True   # no readiness probe: ready once running
    cluster.sync_rules()
    for p in run.collectors:
        cluster.start(p)
    bad = wait_exit(run.drivers, 600, f"driver Job {run.id}")
    cbad = wait_exit(run.collectors, 300, f"collector Job {run.id}")
    for p in run.drivers:
        p.ready = False
    cluster.sync_rules()
    for p in bad:
        # A stress run that found its breaking point exits 1 (thresholds broken): judged below.
        if not (run.scenario and "stress" in run.scenario and p.proc.returncode == 1):
            run.problems.append(f"driver pod {p.name} exited {p.proc.returncode}:\n{tail(p.log)}")
    for p in cbad:
        if not (run.scenario and "stress" in run.scenario and p.proc.returncode == 1):
            run.problems.append(f"collector {p.name} exited {p.proc.returncode}:\n{tail(p.log, 30)}")


def run_dir(cluster, run):
    pvc = os.path.join(cluster.work, "pvc")
    for claim in os.listdir(pvc) if os.path.isdir(pvc) else []:
        d = os.path.join(pvc, claim, run.id)
        if os.path.isdir(d):
            return d
    return None


def judge_run(cluster, run):
    print(f"--- run {run.id}")
    for p in run.drivers:
        for line in open(p.log).read().splitlines():
            m = re.match(r"replica (\d+)/(\d+): relayed (\d+)", line)
            if m:
                run.relayed += int(m.group(3))
                print(f"   {p.name}: {line.strip()}")
            if "clock of replica" in line:
                print(f"   {p.name}: {line.strip()}")
    print(f"   relayed callbacks (all replicas): {run.relayed}")
    if len(run.drivers) > 1 and run.relayed <= 0:
        run.problems.append("no callback was relayed: the Service did not spread callbacks over the replicas")
    print("   " + tail(run.collectors[0].log, 12).rstrip().replace("\n", "\n   "))
    d = run_dir(cluster, run)
    merged = None
    if d:
        for root, _, files in os.walk(os.path.join(d, "merged")):
            for f in ("report.json", "stress.json"):
                if f in files:
                    merged = os.path.join(root, f)
        for i in range(len(run.drivers)):
            for root, _, files in sorted(os.walk(os.path.join(d, f"replica-{i}"))):
                for f in ("report.json", "stress.json"):
                    if f in files:
                        run.parts.append(json.load(open(os.path.join(root, f))))
    if not merged:
        run.problems.append(f"no merged report on the results volume ({d or 'no results folder for ' + run.id})")
        return
    run.merged = json.load(open(merged))
    print(f"   merged: {merged}")
    if len(run.parts) != len(run.drivers):
        run.problems.append(f"{len(run.parts)} replica results for {len(run.drivers)} replicas")
    # Clock offsets the replicas measured (the merged report's `clocks`).
    # A stress report states the clocks in its stage reports (the last one measured).
    stated = run.merged.get("clocks") or next(
        (r["clocks"] for r in reversed(run.merged.get("stage_reports") or []) if r.get("clocks")), [])
    clocks = [(c.get("replica"), pc) for c in stated for pc in c.get("peers") or []]
    for r, pc in clocks:
        off, unc = pc.get("offset_ms"), pc.get("uncertainty_ms")
        print(f"   clock offset measured by replica {r} of replica {pc.get('peer')}: "
              + (f"{off:+.3f} ms ±{unc:.3f}" if off is not None and unc is not None else "never measured")
              + f" ({pc.get('samples')} exchanges; {pc.get('relayed')} relayed callbacks converted with it)")
    if len(run.drivers) > 1 and not clocks:
        run.problems.append("the merged report states no clock offsets (no data)")
    if run.shifted_pod is not None:
        idx = run.shifted_pod.index
        offs = [pc.get("offset_ms") for r, pc in clocks if pc.get("peer") == idx]
        if not offs or None in offs:
            run.problems.append(f"replica {idx}'s clock (shifted {SHIFT}) not measured by every peer: {offs}")
        for o in offs:
            if o is not None and abs(o - 2000.0) > 50.0:
                run.problems.append(f"replica {idx}'s clock measured {o:+.3f} ms; faketime shifted it {SHIFT}")
    xc = run.merged.get("crosscheck") or {}
    print(f"   {xc.get('summary', 'no cross-check in the merged report')}")
    if not (xc.get("agrees") and (xc.get("ids") or {}).get("equal")):
        run.problems.append("the merged report does not agree id by id with the hub's ledger")
    if run.scenario and "stress" in run.scenario:
        bp = run.merged.get("breaking_point_tps")
        print(f"   breaking point: {bp} /s, broke at {run.merged.get('broke_at_tps')} /s by {run.merged.get('broke_by')}; "
              f"recovered: {run.merged.get('recovered')}")
        if bp is None:
            run.problems.append("the stress run found no breaking point (no data to compare)")
        return
    # Replica target rates add up to the scenario's rate (the scenario file, not the merge).
    scen = run.drivers[0]
    rate = scenario_rate(cluster, scen)
    shares = [p.get("target_tps") for p in run.parts]
    total = sum(x for x in shares if x is not None)
    n = len(run.drivers)
    print(f"   replica target rates {shares} add up to {total:.3f}/s; the scenario's rate {rate:g}/s; "
          f"merged target {run.merged.get('target_tps')}/s")
    if None in shares or abs(total - rate) > 0.05 * rate:
        run.problems.append(f"replica target rates {shares} do not add up to the scenario's {rate:g}/s")
    for i, x in enumerate(shares):
        if x is not None and abs(x - rate / n) > 0.1 * rate / n:
            run.problems.append(f"replica {i}'s target rate {x:.3f}/s is not its share {rate / n:.3f}/s")


def scenario_rate(cluster, pod):
    """The single stage's rate of the scenario the driver pods mount (the rendered ConfigMap)."""
    import tomllib
    vols = {v["name"]: v for v in pod.spec.get("volumes") or []}
    cm = cluster.configmap_data(vols["scenario"]["configMap"]["name"])
    stages = tomllib.loads(cm["scenario.toml"])["stages"]
    if len(stages) != 1:
        raise Fail("the rehearsal's p2p scenarios have one stage")
    return float(stages[0]["rate"])


def p50(report):
    return ((report.get("latency_ms") or {}).get("e2e") or {}).get("p50")


def judge_all(runs, tolerance_ms=5.0):
    by = {r.id: r for r in runs}
    problems = [f"{r.id}: {p}" for r in runs for p in r.problems]
    shifted = [by.get(i) for i in ("p2p-shifted", "p2p-shifted-2")]
    unshifted = [by.get(i) for i in ("p2p-unshifted", "p2p-unshifted-2")]
    if all(r and r.merged for r in shifted + unshifted):
        pa = [p50(r.merged) for r in shifted]
        pb = [p50(r.merged) for r in unshifted]
        print(f"e2e p50: {', '.join(map(str, pa))} ms with replica 1 at {SHIFT}; {', '.join(map(str, pb))} ms without (runs in the order shifted, unshifted, unshifted, shifted)")
        if None in pa or None in pb:
            problems.append("e2e p50 missing from a merged report (no data)")
        else:
            ma, mb = sum(pa) / len(pa), sum(pb) / len(pb)
            print(f"e2e p50 mean: {ma:.3f} ms with the shifted clock, {mb:.3f} ms without")
            if abs(ma - mb) > tolerance_ms:
                problems.append(f"e2e p50 with the shifted clock ({ma:.2f} ms, mean of two runs) is not within {tolerance_ms:g} ms of the unshifted runs' ({mb:.2f} ms)")
        for a in shifted:
            # The merged p50 moves only when over half the transfers are mistimed; the shifted
            # replica's own transfers are all timed across the shift (their callbacks relayed
            # to it by unshifted peers, or its relays read by them). Judged against the
            # unshifted replicas of the same run: the same seconds on the same machine.
            k = a.shifted_pod.index if a.shifted_pod is not None else None
            ps = p50(a.parts[k]) if k is not None and k < len(a.parts) else None
            others = sorted(x for x in (p50(r) for i, r in enumerate(a.parts) if i != k) if x is not None)
            print(f"{a.id}: e2e p50 of replica {k}'s own transfers with its clock {SHIFT}: {ps} ms; its unshifted peers': {', '.join(map(str, others))} ms")
            if ps is None or not others:
                problems.append(f"{a.id}: no e2e p50 of the shifted replica {k} or of its peers (no data)")
                continue
            # Within 5 ms of the span of its peers' p50s: a clock the correction missed moves
            # it by about the offset (2000 ms; 1019 ms seen with the correction broken).
            if not others[0] - 5.0 <= ps <= others[-1] + 5.0:
                problems.append(f"{a.id}: e2e p50 of the shifted replica's own transfers ({ps:.2f} ms) is not within 5 ms of its unshifted peers' in the same run ({others[0]:.2f}–{others[-1]:.2f} ms)")
    else:
        problems.append("the shifted and unshifted p2p runs did not all produce a merged report (no data)")
    s4, s1 = by.get("stress-x4"), by.get("stress-x1")
    if s4 and s1 and s4.merged and s1.merged:
        b4, b1 = s4.merged.get("breaking_point_tps"), s1.merged.get("breaking_point_tps")
        import tomllib
        step = tomllib.loads(open(os.path.join(CI, s4.scenario)).read())["stress"]["step"]
        print(f"breaking point: {b4} /s with 4 replicas, {b1} /s in one process (step {step:g}/s)")
        if b4 is None or b1 is None or abs(b4 - b1) > step + 1e-9:
            problems.append(f"breaking points differ by more than one step: {b4} (4 replicas) vs {b1} (one process)")
    print("relayed callbacks: " + ", ".join(f"{r.id} {r.relayed}" for r in runs))
    return problems


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--binary", default=os.environ.get("PERFBED_BIN") or os.path.join(
        os.environ.get("CARGO_TARGET_DIR") or os.path.expanduser("~/.cache/perfbed/target"), "debug", "perfbed"))
    ap.add_argument("--rootfs", help="the image's root filesystem (scripts/image --rootfs, or "
                    "--check --keep-rootfs): the pods run the perfbed in it, not --binary (which "
                    "makes the test PKI). Default: made from --binary into the work directory")
    ap.add_argument("--only", help="comma-separated run ids (default: every run of every install)")
    ap.add_argument("--break", dest="breaks", action="append", default=[], choices=sorted(BREAKS),
                    help="break one thing on purpose, to see the checks fail (evidence)")
    ap.add_argument("--p50-tolerance-ms", type=float, default=5.0, metavar="MS",
                    help="how far the shifted runs' mean e2e p50 may be from the unshifted runs' "
                         "(default 5: what the rehearsal holds alone on a quiet machine; beside a "
                         "busy suite identical runs differ by more, and scripts/test says how much)")
    ap.add_argument("--keep", help="work directory to use and keep (logs, rendered manifests, results)")
    ap.add_argument("--commands", action="store_true",
                    help="print the helm/kubectl commands that do the same on a cluster (docs/runbook.md) and stop")
    a = ap.parse_args()
    if a.commands:
        print(runbook_commands(), end="")
        return 0
    t0 = time.time()
    preflight()
    if not os.access(a.binary, os.X_OK):
        raise Fail(f"no perfbed binary at {a.binary} (cargo build -p perfbed, or --binary / PERFBED_BIN)")
    work = a.keep or tempfile.mkdtemp(prefix="perfbed-rehearse.")
    os.makedirs(work, exist_ok=True)
    os.chmod(work, 0o755)
    only = set(a.only.split(",")) if a.only else None

    def on_signal(sig, _frame):
        raise KeyboardInterrupt(f"signal {sig}")
    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGHUP, on_signal)
    rootfs = a.rootfs or os.path.join(work, "rootfs")
    if not os.path.isdir(os.path.join(rootfs, "usr")):
        say("image root filesystem (scripts/image --rootfs)")
        shutil.rmtree(rootfs, ignore_errors=True)
        sh(os.path.join(ROOT, "scripts", "image"), "--binary", a.binary, "--rootfs", rootfs)
    runs = []
    for name, values, plan in INSTALLS:
        plan = [r for r in plan if only is None or r[0] in only]
        if plan:
            os.makedirs(os.path.join(work, name), exist_ok=True)
            runs += install(name, values, plan, a.binary, work, rootfs, set(a.breaks))
    print("=== verdict")
    problems = judge_all(runs, a.p50_tolerance_ms)
    say(f"rehearsal took {time.time() - t0:.0f} s; logs and results in {work}")
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
