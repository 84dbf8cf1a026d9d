#!/usr/bin/env bash
# Checks the Kubernetes manifests in docker/kubernetes/ without a cluster:
# valid YAML, and the fields that matter for Quiver being consistent:
#  - a headless Service and a StatefulSet of quiverd nodes whose serviceName
#    it is, with a volume claim mounted at quiverd's --data_dir;
#  - a Deployment of quiver-router whose --shards range names exactly the
#    StatefulSet's pods (NAME-{0..replicas-1}.SERVICE:PORT) on the port the
#    nodes listen on, and a Service for it;
#  - readiness and liveness probes through gRPC health on the port each
#    container listens on;
#  - PodDisruptionBudgets, and selectors that match the pod labels;
#  - every file listed by kustomization.yaml and vice versa.
# Usage: scripts/check-k8s.sh [DIR] (default docker/kubernetes). Needs
# python3-yaml (scripts/setup.sh).
set -euo pipefail
cd "$(dirname "$0")/.."
exec python3 - "${1:-docker/kubernetes}" <<'PY'
import glob, os, re, sys
import yaml

root = sys.argv[1]
errors = []
def check(cond, msg):
    if not cond:
        errors.append(msg)

docs = []
files = sorted(glob.glob(os.path.join(root, "*.yaml")))
for f in files:
    try:
        with open(f) as fh:
            for d in yaml.safe_load_all(fh):
                if d is not None:
                    docs.append((os.path.basename(f), d))
    except yaml.YAMLError as e:
        print(f"check-k8s: {f}: invalid YAML: {e}")
        sys.exit(1)

def of_kind(kind):
    return [d for _, d in docs if d.get("kind") == kind]

for name, d in docs:
    check("apiVersion" in d and "kind" in d, f"{name}: a document without apiVersion/kind")

kust = [d for _, d in docs if d.get("kind") == "Kustomization"]
check(len(kust) == 1, "no kustomization.yaml")
if kust:
    listed = set(kust[0].get("resources", []))
    present = {os.path.basename(f) for f in files} - {"kustomization.yaml"}
    check(listed == present, f"kustomization resources {sorted(listed)} != files {sorted(present)}")

def labels_match(selector, labels, what):
    want = (selector or {}).get("matchLabels", selector or {})
    check(bool(want), f"{what}: empty selector")
    for k, v in want.items():
        check(labels.get(k) == v, f"{what}: selector {k}={v} does not match the pods' labels {labels}")

def flag(args, name):
    for a in args:
        if a.startswith(f"--{name}="):
            return a.split("=", 1)[1]
    return None

def container_port(c, flag_name):
    listen = flag(c.get("args", []), flag_name)
    check(listen is not None, f"container {c['name']}: no --{flag_name}")
    return int(listen.rsplit(":", 1)[1]) if listen else None

def check_probes(c, port):
    ports = {p["containerPort"] for p in c.get("ports", [])}
    check(port in ports, f"container {c['name']}: port {port} not declared")
    for probe in ("readinessProbe", "livenessProbe"):
        p = c.get(probe)
        check(p is not None, f"container {c['name']}: no {probe}")
        if p:
            check("grpc" in p, f"container {c['name']}: {probe} is not a gRPC health probe")
            check(p.get("grpc", {}).get("port") == port,
                  f"container {c['name']}: {probe} on port {p.get('grpc', {}).get('port')}, it listens on {port}")
    rp = c.get("readinessProbe", {}).get("grpc", {})
    check(rp.get("service") == "quiver.v1.Quiver",
          f"container {c['name']}: readiness should ask for service quiver.v1.Quiver")

services = {d["metadata"]["name"]: d for d in of_kind("Service")}
sts_list = of_kind("StatefulSet")
check(len(sts_list) == 1, "expected one StatefulSet (the nodes)")
node_port = None
if sts_list:
    sts = sts_list[0]
    spec = sts["spec"]
    svc = services.get(spec.get("serviceName"))
    check(svc is not None, f"StatefulSet serviceName {spec.get('serviceName')} is not a Service here")
    if svc:
        check(svc["spec"].get("clusterIP") == "None", "the nodes' Service is not headless (clusterIP: None)")
        labels_match(svc["spec"].get("selector"), spec["template"]["metadata"]["labels"], "nodes' Service")
    labels_match(spec.get("selector"), spec["template"]["metadata"]["labels"], "StatefulSet")
    c = spec["template"]["spec"]["containers"][0]
    node_port = container_port(c, "listen")
    data_dir = flag(c.get("args", []), "data_dir")
    claims = {t["metadata"]["name"] for t in spec.get("volumeClaimTemplates", [])}
    check(bool(claims), "StatefulSet without volumeClaimTemplates")
    mounts = {m["name"]: m["mountPath"] for m in c.get("volumeMounts", [])}
    check(any(mounts.get(n) == data_dir for n in claims),
          f"no volume claim mounted at --data_dir {data_dir} (mounts {mounts})")
    if node_port:
        check_probes(c, node_port)
    if svc and node_port:
        check(any(p.get("port") == node_port for p in svc["spec"]["ports"]),
              f"the nodes' Service does not expose port {node_port}")

deps = [d for d in of_kind("Deployment") if "quiver-router" in
        [c.get("command", [""])[0] for c in d["spec"]["template"]["spec"]["containers"]]]
check(len(deps) == 1, "expected one Deployment running quiver-router")
if deps and sts_list:
    dep = deps[0]
    spec = dep["spec"]
    labels_match(spec.get("selector"), spec["template"]["metadata"]["labels"], "router Deployment")
    c = spec["template"]["spec"]["containers"][0]
    router_port = container_port(c, "listen")
    shards = flag(c.get("args", []), "shards")
    m = re.fullmatch(r"([a-z0-9-]+)-\{(\d+)\.\.(\d+)\}\.([a-z0-9-]+):(\d+)", shards or "")
    check(m is not None, f"router --shards '{shards}' is not NAME-{{0..N}}.SERVICE:PORT")
    if m:
        sts = sts_list[0]
        check(m.group(1) == sts["metadata"]["name"], f"--shards names pods of '{m.group(1)}', the StatefulSet is '{sts['metadata']['name']}'")
        check(int(m.group(2)) == 0 and int(m.group(3)) == sts["spec"]["replicas"] - 1,
              f"--shards range {m.group(2)}..{m.group(3)} != the StatefulSet's {sts['spec']['replicas']} replicas")
        check(m.group(4) == sts["spec"]["serviceName"], f"--shards service '{m.group(4)}' != serviceName")
        check(int(m.group(5)) == node_port, f"--shards port {m.group(5)} != the nodes' {node_port}")
    if router_port:
        check_probes(c, router_port)
        rsvc = [s for s in services.values()
                if s["spec"].get("clusterIP") != "None" and all(
                    spec["template"]["metadata"]["labels"].get(k) == v
                    for k, v in s["spec"].get("selector", {}).items())]
        check(len(rsvc) == 1, "no (or more than one) Service selecting the router's pods")
        if rsvc:
            check(any(p.get("port") == router_port for p in rsvc[0]["spec"]["ports"]),
                  f"the router's Service does not expose port {router_port}")

pdbs = of_kind("PodDisruptionBudget")
check(pdbs, "no PodDisruptionBudget")
if sts_list:
    check(any(all(sts_list[0]["spec"]["template"]["metadata"]["labels"].get(k) == v
                  for k, v in p["spec"]["selector"]["matchLabels"].items()) for p in pdbs),
          "no PodDisruptionBudget selects the nodes")
for p in pdbs:
    check(("minAvailable" in p["spec"]) != ("maxUnavailable" in p["spec"]),
          f"PodDisruptionBudget {p['metadata']['name']}: exactly one of minAvailable/maxUnavailable")

if errors:
    for e in errors:
        print(f"check-k8s: {e}")
    sys.exit(1)
print(f"check-k8s: {len(docs)} documents in {len(files)} files: OK")
PY
