"""The Helm chart (deploy/helm/leadfarm) lints and renders: with its defaults, five
Deployments and their Services, PodDisruptionBudgets, one ConfigMap and one Ingress, the
secrets read from the existing Secret `leadfarm-secrets`; with a values file, the replicas,
resources and existing Secrets it names; and, with no existing Secret, a Secret of its own
whose generated keys are ones Leadfarm accepts.

helm comes from `deploy/local/helm.sh install` (the test command's provisioning), or from
LEADFARM_HELM. Under CI=true a missing helm fails these tests instead of skipping them."""

from __future__ import annotations

import base64
import os
import subprocess
import sys
from collections import Counter
from pathlib import Path
from typing import Any

import pytest
import yaml
from cryptography.fernet import Fernet
from pydantic import SecretStr

from services.settings import Settings
from tests.infra import IN_CI

ROOT = Path(__file__).resolve().parents[2]
CHART = ROOT / "deploy" / "helm" / "leadfarm"
SERVICES = ("ingest", "qualifier", "router", "nurture", "audit")
Manifest = dict[str, Any]


@pytest.fixture(scope="module")
def helm() -> str:
    wanted = os.environ.get("LEADFARM_HELM")
    if not wanted:
        located = subprocess.run(
            ["bash", str(ROOT / "deploy" / "local" / "helm.sh"), "path"],
            capture_output=True,
            text=True,
            check=False,
        )
        wanted = located.stdout.strip() if located.returncode == 0 else ""
    if not wanted or not os.access(wanted, os.X_OK):
        message = (
            "helm is not installed. Run the README's test command (`make test`), which "
            "provisions it (deploy/local/helm.sh install), or point LEADFARM_HELM at one."
        )
        if IN_CI:
            pytest.fail(f"CI=true: the chart's tests must not skip. {message}")
        pytest.skip(message)
    return wanted


def run(helm: str, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([helm, *args], capture_output=True, text=True, check=False, timeout=120)


def render(helm: str, *args: str, release: str = "leadfarm") -> list[Manifest]:
    done = run(helm, "template", release, str(CHART), "--namespace", "sales", *args)
    assert done.returncode == 0, done.stderr
    return [m for m in yaml.safe_load_all(done.stdout) if m]


def by_kind(manifests: list[Manifest], kind: str) -> dict[str, Manifest]:
    return {m["metadata"]["name"]: m for m in manifests if m["kind"] == kind}


def container(deployment: Manifest) -> Manifest:
    (only,) = deployment["spec"]["template"]["spec"]["containers"]
    result: Manifest = only
    return result


def secret_env(deployment: Manifest) -> dict[str, tuple[str, str]]:
    """Env var -> (Secret, key) of the variables read from Secrets."""
    return {
        e["name"]: (e["valueFrom"]["secretKeyRef"]["name"], e["valueFrom"]["secretKeyRef"]["key"])
        for e in container(deployment).get("env", [])
        if "valueFrom" in e
    }


def test_the_chart_lints_with_its_defaults_and_with_a_production_values_file(
    helm: str, tmp_path: Path
) -> None:
    done = run(helm, "lint", "--strict", str(CHART))
    assert done.returncode == 0, done.stdout + done.stderr
    values = tmp_path / "values.yaml"
    values.write_text(yaml.safe_dump(PRODUCTION))
    done = run(helm, "lint", "--strict", str(CHART), "-f", str(values))
    assert done.returncode == 0, done.stdout + done.stderr


def test_the_defaults_render_five_services_reading_the_existing_secret(helm: str) -> None:
    manifests = render(helm)
    assert Counter(m["kind"] for m in manifests) == {
        "Deployment": 5,
        "Service": 5,
        "PodDisruptionBudget": 5,
        "ConfigMap": 1,
        "Ingress": 1,
    }, "no Secret: by default the pods read the existing Secret leadfarm-secrets"
    deployments = by_kind(manifests, "Deployment")
    services = by_kind(manifests, "Service")
    assert set(deployments) == {f"leadfarm-{s}" for s in SERVICES}
    assert set(services) == set(deployments)
    assert set(by_kind(manifests, "PodDisruptionBudget")) == set(deployments)
    (config,) = by_kind(manifests, "ConfigMap").values()
    assert config["metadata"]["name"] == "leadfarm-config"
    env = config["data"]
    assert env["LEADFARM_ENV"] == "production"
    assert env["LEADFARM_KAFKA_BOOTSTRAP_SERVERS"] == "kafka-bootstrap.kafka.svc.cluster.local:9092"
    assert env["LEADFARM_TOPIC_REPLICATION_FACTOR"] == "3"
    known = {f"LEADFARM_{name.upper()}" for name in Settings.model_fields}
    assert set(env) <= known, f"not settings Leadfarm reads: {set(env) - known}"

    for service in SERVICES:
        deployment = deployments[f"leadfarm-{service}"]
        spec = deployment["spec"]
        pod = spec["template"]["spec"]
        main = container(deployment)
        assert spec["replicas"] == 2
        assert main["args"] == ["serve", service]
        assert main["image"] == "leadfarm:0.1.0"
        assert main["envFrom"] == [{"configMapRef": {"name": "leadfarm-config"}}]
        assert secret_env(deployment) == {
            "LEADFARM_DATABASE_URL": ("leadfarm-secrets", "LEADFARM_DATABASE_URL"),
            "LEADFARM_ADMIN_KEY": ("leadfarm-secrets", "LEADFARM_ADMIN_KEY"),
            "LEADFARM_SECRETS_KEY": ("leadfarm-secrets", "LEADFARM_SECRETS_KEY"),
        }
        assert main["resources"] == {
            "requests": {"cpu": "100m", "memory": "192Mi"},
            "limits": {"cpu": "1", "memory": "512Mi"},
        }
        assert main["securityContext"]["readOnlyRootFilesystem"] is True
        assert pod["securityContext"]["runAsNonRoot"] is True
        assert pod["automountServiceAccountToken"] is False
        assert main["readinessProbe"]["httpGet"]["path"] == "/readyz"
        labels = spec["template"]["metadata"]["labels"]
        selector = spec["selector"]["matchLabels"]
        assert selector.items() <= labels.items()
        assert services[f"leadfarm-{service}"]["spec"]["selector"] == selector
        assert "checksum/config" in spec["template"]["metadata"]["annotations"]

    (ingress,) = by_kind(manifests, "Ingress").values()
    (rule,) = ingress["spec"]["rules"]
    routes = {p["path"]: p["backend"]["service"]["name"] for p in rule["http"]["paths"]}
    assert routes == {
        **{f"/{s}": f"leadfarm-{s}" for s in SERVICES},
        "/admin": "leadfarm-ingest",
        "/console": "leadfarm-audit",
    }


PRODUCTION: dict[str, Any] = {
    "image": {"repository": "registry.example.com/leadfarm", "tag": "1.2.3"},
    "replicas": 3,
    # Values merge into the defaults; null removes one (here the default CPU limit).
    "resources": {
        "requests": {"cpu": "250m", "memory": "256Mi"},
        "limits": {"cpu": None, "memory": "1Gi"},
    },
    "services": {
        "router": {
            "enabled": True,
            "replicas": 6,
            "resources": {"requests": {"cpu": "500m", "memory": "512Mi"}},
            "extraEnv": {"LEADFARM_ROUTER_FIRST_TOUCH_MINUTES": 10},
            "database": {"existingSecret": "pg-router"},
        },
        "audit": {"enabled": False},
    },
    "kafka": {"bootstrapServers": "kafka-0.kafka:9092,kafka-1.kafka:9092"},
    "secrets": {"existingSecret": "prod-leadfarm", "keys": {"adminKey": "admin-key"}},
    "database": {"existingSecret": "pg-app", "existingSecretKey": "uri"},
    "ingress": {"className": "nginx", "host": "leads.example.org"},
}


def test_a_values_file_sets_replicas_resources_and_existing_secrets(
    helm: str, tmp_path: Path
) -> None:
    values = tmp_path / "production.yaml"
    values.write_text(yaml.safe_dump(PRODUCTION))
    manifests = render(helm, "-f", str(values), release="prod")
    assert "Secret" not in {m["kind"] for m in manifests}
    deployments = by_kind(manifests, "Deployment")
    assert set(deployments) == {f"prod-leadfarm-{s}" for s in SERVICES if s != "audit"}
    assert set(by_kind(manifests, "Service")) == set(deployments)
    for name, deployment in deployments.items():
        main = container(deployment)
        router = name.endswith("-router")
        assert deployment["spec"]["replicas"] == (6 if router else 3)
        assert main["image"] == "registry.example.com/leadfarm:1.2.3"
        assert main["resources"] == (
            {"requests": {"cpu": "500m", "memory": "512Mi"}}
            if router
            else {"requests": {"cpu": "250m", "memory": "256Mi"}, "limits": {"memory": "1Gi"}}
        )
        assert secret_env(deployment) == {
            "LEADFARM_DATABASE_URL": ("pg-router" if router else "pg-app", "uri"),
            "LEADFARM_ADMIN_KEY": ("prod-leadfarm", "admin-key"),
            "LEADFARM_SECRETS_KEY": ("prod-leadfarm", "LEADFARM_SECRETS_KEY"),
        }
        plain = {e["name"]: e["value"] for e in main.get("env", []) if "value" in e}
        assert plain == ({"LEADFARM_ROUTER_FIRST_TOUCH_MINUTES": "10"} if router else {})
    (config,) = by_kind(manifests, "ConfigMap").values()
    assert (
        config["data"]["LEADFARM_KAFKA_BOOTSTRAP_SERVERS"]
        == "kafka-0.kafka:9092,kafka-1.kafka:9092"
    )
    (ingress,) = by_kind(manifests, "Ingress").values()
    assert ingress["spec"]["ingressClassName"] == "nginx"
    (rule,) = ingress["spec"]["rules"]
    assert rule["host"] == "leads.example.org"
    assert "/audit" not in {p["path"] for p in rule["http"]["paths"]}
    assert "/console" not in {p["path"] for p in rule["http"]["paths"]}, "audit serves it"


def test_without_an_existing_secret_the_chart_makes_one_leadfarm_accepts(helm: str) -> None:
    url = "postgresql+asyncpg://leadfarm:pw@pg:5432/leadfarm"
    manifests = render(helm, "--set", "secrets.existingSecret=", "--set", f"database.url={url}")
    (secret,) = by_kind(manifests, "Secret").values()
    assert secret["metadata"]["name"] == "leadfarm-secrets"
    assert secret["metadata"]["annotations"]["helm.sh/resource-policy"] == "keep"
    data = {k: base64.b64decode(v).decode() for k, v in secret["data"].items()}
    assert data["LEADFARM_DATABASE_URL"] == url
    Fernet(data["LEADFARM_SECRETS_KEY"].encode())  # a valid Fernet key, or this raises
    settings = Settings(
        env="production",
        database_url=url,
        admin_key=SecretStr(data["LEADFARM_ADMIN_KEY"]),
        secrets_key=SecretStr(data["LEADFARM_SECRETS_KEY"]),
    )
    assert settings.admin_key is not None
    assert settings.admin_key.get_secret_value() == data["LEADFARM_ADMIN_KEY"]
    for deployment in by_kind(manifests, "Deployment").values():
        assert {s for s, _ in secret_env(deployment).values()} == {"leadfarm-secrets"}

    given = render(
        helm,
        "--set",
        "secrets.existingSecret=",
        "--set",
        f"database.url={url}",
        "--set",
        "secrets.adminKey=an-admin-key-of-thirty-two-chars",
    )
    (secret,) = by_kind(given, "Secret").values()
    assert base64.b64decode(secret["data"]["LEADFARM_ADMIN_KEY"]) == (
        b"an-admin-key-of-thirty-two-chars"
    )

    missing = run(helm, "template", "leadfarm", str(CHART), "--set", "secrets.existingSecret=")
    assert missing.returncode != 0
    assert "database.url is required when the chart creates the Secret" in missing.stderr


@pytest.mark.parametrize(
    ("setting", "problem"),
    [
        ("replicas=two", "at '/replicas': got string, want integer"),
        ("services.routr.replicas=3", "additional properties 'routr' not allowed"),
        ("database.url=postgres://pg/leadfarm", "at '/database/url'"),
        ("kafka.topicPartitions=0", "at '/kafka/topicPartitions'"),
        ("extraEnv.ROUTER_FIRST_TOUCH_MINUTES=9", "'ROUTER_FIRST_TOUCH_MINUTES' does not match"),
    ],
)
def test_bad_values_are_refused_naming_the_value(helm: str, setting: str, problem: str) -> None:
    done = run(helm, "template", "leadfarm", str(CHART), "--set", setting)
    assert done.returncode != 0
    assert problem in done.stderr, done.stderr


@pytest.mark.parametrize(("ci", "outcome"), [("true", "1 error"), ("", "1 skipped")])
def test_without_helm_the_chart_tests_fail_under_ci_and_skip_elsewhere(
    ci: str, outcome: str
) -> None:
    env = {k: v for k, v in os.environ.items() if k != "CI"}
    env |= {"CI": ci, "LEADFARM_HELM": str(ROOT / "no-such-helm")}
    test = "test_the_defaults_render_five_services_reading_the_existing_secret"
    target = f"{Path(__file__).relative_to(ROOT)}::{test}"
    done = subprocess.run(
        [sys.executable, "-m", "pytest", target, "-p", "no:cacheprovider", "-q"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert outcome in done.stdout, done.stdout
    assert "helm is not installed" in done.stdout
