"""deploy/: the systemd unit, the container image definition, compose and Kubernetes files."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import tempfile
import tomllib
from pathlib import Path

import pytest
import yaml
from kontaktsync.sync.config.loading import load_settings

from tests.cli import VENV_BIN

DEPLOY = Path(__file__).resolve().parents[1] / "deploy"
REPO = DEPLOY.parent


def parse_unit(text: str) -> dict[str, dict[str, list[str]]]:
    """systemd unit syntax: [Section], Key=Value, repeated keys kept in order, # ; comments,
    backslash continuation lines."""
    sections: dict[str, dict[str, list[str]]] = {}
    current: dict[str, list[str]] | None = None
    pending = ""
    for raw in text.splitlines():
        line = pending + raw.strip()
        pending = ""
        if line.endswith("\\"):
            pending = line[:-1] + " "
            continue
        if not line or line.startswith(("#", ";")):
            continue
        if line.startswith("[") and line.endswith("]"):
            current = sections.setdefault(line[1:-1], {})
            continue
        assert current is not None, f"key outside a section: {line}"
        key, sep, value = line.partition("=")
        assert sep, f"not Key=Value: {line}"
        current.setdefault(key.strip(), []).append(value.strip())
    return sections


def test_systemd_unit_is_hardened() -> None:
    unit = parse_unit((DEPLOY / "kontaktsync.service").read_text())
    service = unit["Service"]
    one = {key: values[-1] for key, values in service.items()}
    assert one["ExecStart"].split()[1:3] == ["daemon", "--config"]
    assert one["DynamicUser"] == "yes" or "User" in one  # own user
    assert one["StateDirectory"] == "kontaktsync"  # state in /var/lib/kontaktsync
    for key, value in {
        "ProtectSystem": "strict",
        "PrivateTmp": "yes",
        "NoNewPrivileges": "yes",
        "ProtectHome": "yes",
        "PrivateDevices": "yes",
        "RestrictSUIDSGID": "yes",
        "KillSignal": "SIGTERM",
    }.items():
        assert one.get(key) == value, f"{key}={one.get(key)}"
    assert one["CapabilityBoundingSet"] == ""
    assert "network-online.target" in unit["Unit"]["After"][0]
    assert unit["Install"]["WantedBy"] == ["multi-user.target"]
    # Secrets as systemd credentials: kontaktsync reads $CREDENTIALS_DIRECTORY.
    assert any(v.startswith("kontaktsync:") for v in service["LoadCredential"])


def test_systemd_analyze_verify_and_security() -> None:
    tool = shutil.which("systemd-analyze")
    if tool is None:
        pytest.fail("systemd-analyze is missing: install it with `apt-get install systemd`")
    # verify checks that ExecStart exists, so point it at this environment's console script.
    text = (DEPLOY / "kontaktsync.service").read_text()
    text = text.replace("/opt/kontaktsync/bin/kontaktsync", str(VENV_BIN / "kontaktsync"))
    folder = Path(subprocess.check_output(["mktemp", "-d"], text=True).strip())
    try:
        unit = folder / "kontaktsync.service"
        unit.write_text(text)
        verify = subprocess.run([tool, "verify", str(unit)], capture_output=True, text=True, timeout=60)
        assert verify.returncode == 0, verify.stderr
        # verify only warns about unknown keys; any line about the unit is a finding.
        findings = [line for line in verify.stderr.splitlines() if "kontaktsync.service" in line]
        assert not findings, "\n".join(findings)
        security = subprocess.run(
            [tool, "security", "--offline=yes", "--threshold=25", "--no-pager", str(unit)],
            capture_output=True,
            text=True,
            timeout=60,
        )
        exposure = re.search(r"Overall exposure level for \S+: ([0-9.]+)", security.stdout)
        assert security.returncode == 0 and exposure, security.stdout[-2000:] + security.stderr
        assert float(exposure.group(1)) <= 2.5
    finally:
        shutil.rmtree(folder, ignore_errors=True)


INSTRUCTIONS = {
    "FROM",
    "RUN",
    "CMD",
    "LABEL",
    "EXPOSE",
    "ENV",
    "ADD",
    "COPY",
    "ENTRYPOINT",
    "VOLUME",
    "USER",
    "WORKDIR",
    "ARG",
    "ONBUILD",
    "STOPSIGNAL",
    "HEALTHCHECK",
    "SHELL",
}


def parse_containerfile(text: str) -> list[tuple[str, str]]:
    """(INSTRUCTION, arguments) in order; continuation lines joined, comments dropped."""
    out: list[tuple[str, str]] = []
    pending = ""
    for raw in text.splitlines():
        stripped = raw.strip()
        if not pending and (not stripped or stripped.startswith("#")):
            continue
        if pending and stripped.startswith("#"):
            continue
        line = pending + stripped
        if line.endswith("\\"):
            pending = line[:-1] + " "
            continue
        pending = ""
        word, _, args = line.partition(" ")
        out.append((word.upper(), args.strip()))
    assert not pending, "the file ends inside a continuation line"
    return out


def test_containerfile_parses_and_runs_as_non_root() -> None:
    steps = parse_containerfile((DEPLOY / "Containerfile").read_text())
    readme = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]["readme"]
    copied = [src for w, a in steps if w == "COPY" and not a.startswith("--from") for src in a.split()[:-1]]
    assert readme in copied, "pyproject's readme must be in the image to build it"
    assert steps[0][0] == "FROM"
    unknown = [word for word, _ in steps if word not in INSTRUCTIONS]
    assert not unknown, unknown
    final_stage = steps[max(i for i, (w, _) in enumerate(steps) if w == "FROM") :]
    users = [args for word, args in final_stage if word == "USER"]
    assert users and users[-1].split(":")[0] not in ("root", "0"), "the image must not run as root"
    for word, args in steps:
        if word in ("CMD", "ENTRYPOINT") or (word == "HEALTHCHECK" and "CMD [" in args):
            exec_form = args[args.index("[") :] if word == "HEALTHCHECK" else args
            assert isinstance(json.loads(exec_form), list), f"{word} must be exec form"
        if word == "COPY" and not args.startswith("--from"):
            for source in args.split()[:-1]:
                assert (REPO / source).exists(), f"COPY source {source} missing in the repo"
    entry = json.loads(dict(final_stage)["ENTRYPOINT"])
    assert entry == ["kontaktsync"] and json.loads(dict(final_stage)["CMD"]) == ["daemon"]
    assert "9464" in dict(final_stage)["EXPOSE"]


def test_compose_file_starts_kontaktsync_beside_radicale() -> None:
    compose = yaml.safe_load((DEPLOY / "compose.yaml").read_text())
    services = compose["services"]
    assert {"kontaktsync", "radicale"} <= set(services)
    ks = services["kontaktsync"]
    assert (DEPLOY / ks["build"]["context"] / ks["build"]["dockerfile"]).is_file()
    assert "radicale" in ks["depends_on"]
    assert ks["command"] == ["daemon"]
    for volume in ks["volumes"]:
        source = volume.split(":", 1)[0]
        if source.startswith("."):
            assert (DEPLOY / source).exists(), f"compose mounts {source}, which is missing"
        else:
            assert source in compose["volumes"], f"named volume {source} not declared"
    secret = ks["secrets"][0]
    assert secret["target"] == "kontaktsync_target__caldav__password"
    assert (DEPLOY / compose["secrets"][secret["source"]]["file"]).is_file()
    assert ks["read_only"] is True and ks["cap_drop"] == ["ALL"]
    assert all(str(p).startswith("127.0.0.1:") for s in services.values() for p in s.get("ports", []))
    # kontaktsync reaches Radicale by its service name.
    config = (DEPLOY / "compose" / "kontaktsync.toml").read_text()
    assert "http://radicale:5232/" in config
    radicale = services["radicale"]
    port = radicale["command"][radicale["command"].index("--server-hosts") + 1]
    assert port.endswith(":5232")


def _k8s_documents() -> dict[str, dict]:
    docs: dict[str, dict] = {}
    for path in sorted((DEPLOY / "k8s").glob("*.yaml")):
        for doc in yaml.safe_load_all(path.read_text()):
            if doc and "kind" in doc and doc["kind"] != "Kustomization":
                docs[f"{doc['kind']}/{doc['metadata']['name']}"] = doc
    return docs


def test_kubernetes_manifests() -> None:
    docs = _k8s_documents()
    deployment = docs["Deployment/kontaktsync"]
    spec = deployment["spec"]
    assert spec["replicas"] == 1 and spec["strategy"]["type"] == "Recreate"
    assert spec["selector"]["matchLabels"].items() <= spec["template"]["metadata"]["labels"].items()
    pod = spec["template"]["spec"]
    assert pod["securityContext"]["runAsNonRoot"] is True
    container = pod["containers"][0]
    probe = container["livenessProbe"]["httpGet"]
    assert probe["path"] == "/healthz"
    ports = {p["name"]: p["containerPort"] for p in container["ports"]}
    assert probe["port"] in ports or probe["port"] in ports.values()
    assert container["securityContext"]["readOnlyRootFilesystem"] is True
    assert container["securityContext"]["allowPrivilegeEscalation"] is False
    volumes = {v["name"]: v for v in pod["volumes"]}
    for mount in container["volumeMounts"]:
        assert mount["name"] in volumes, mount
    config_map = volumes["config"]["configMap"]["name"]
    secret = volumes["secrets"]["secret"]["secretName"]
    assert f"ConfigMap/{config_map}" in docs and f"Secret/{secret}" in docs
    assert f"PersistentVolumeClaim/{volumes['state']['persistentVolumeClaim']['claimName']}" in docs
    mounts = {m["name"]: m["mountPath"] for m in container["volumeMounts"]}
    assert mounts["config"] == "/etc/kontaktsync" and mounts["state"] == "/var/lib/kontaktsync"
    env = {e["name"]: e["value"] for e in container["env"]}
    assert env["KONTAKTSYNC_SECRETS_DIR"] == mounts["secrets"]
    # The ConfigMap's file is a valid configuration, listening where the probe looks.
    toml_text = docs[f"ConfigMap/{config_map}"]["data"]["kontaktsync.toml"]
    conf = tomllib.loads(toml_text)
    assert conf["observability"]["listen"].endswith(f":{ports['http-metrics']}")
    assert conf["sync"]["state_path"].startswith(mounts["state"])
    secret_keys = docs[f"Secret/{secret}"]["stringData"]
    assert all(k.startswith("kontaktsync_") for k in secret_keys)
    # ConfigMap + Secret, mounted as the pod mounts them, make a valid configuration.
    with tempfile.TemporaryDirectory() as tmp:
        (Path(tmp) / "etc").mkdir()
        (Path(tmp) / "etc" / "kontaktsync.toml").write_text(toml_text)
        (Path(tmp) / "secrets").mkdir()
        for key, value in secret_keys.items():
            (Path(tmp) / "secrets" / key).write_text(value)
        settings = load_settings(Path(tmp) / "etc" / "kontaktsync.toml", secrets_dir=Path(tmp) / "secrets")
    assert settings.target.caldav is not None and settings.target.caldav.password is not None
    kustomization = yaml.safe_load((DEPLOY / "k8s" / "kustomization.yaml").read_text())
    assert all((DEPLOY / "k8s" / r).is_file() for r in kustomization["resources"])


def test_deploy_readme_explains_each_file() -> None:
    readme = (DEPLOY / "README.md").read_text()
    for name in (
        "kontaktsync.service",
        "Containerfile",
        "compose.yaml",
        "k8s/",
        "kontaktsync.caldav.toml",
        "kontaktsync.exchange.toml",
    ):
        assert name in readme, f"deploy/README.md does not mention {name}"
