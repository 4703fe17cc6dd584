"""deploy/prometheus and deploy/grafana: checked by promtool, the alerts unit-tested, the dashboard's queries naming
only metrics the service exports, and the compose services that run them."""
import json
import re
import shutil
import subprocess
from pathlib import Path

import pytest
import yaml
from prometheus_client import Counter, Gauge, Histogram, ProcessCollector
from prometheus_client.core import CollectorRegistry

from bookapi import metrics

ROOT = Path(__file__).resolve().parent.parent
PROMETHEUS = ROOT / "deploy" / "prometheus"
GRAFANA = ROOT / "deploy" / "grafana"
SUFFIXES = {"counter": ("_total",), "gauge": ("",), "histogram": ("_bucket", "_sum", "_count")}
# What Prometheus adds to every target, and the master's process metrics (gunicorn.conf.py serves them).
NOT_OURS = {"up"}
PROMQL_WORDS = {"by", "without", "on", "ignoring", "group_left", "group_right", "offset", "bool", "and", "or",
                "unless", "le", "inf", "nan"}

promtool = shutil.which("promtool")
needs_promtool = pytest.mark.skipif(promtool is None, reason="promtool (Debian's prometheus) is not installed")


def run_promtool(*args):
    result = subprocess.run([promtool, *args], cwd=PROMETHEUS, capture_output=True, text=True, timeout=120)
    return result.returncode, result.stdout + result.stderr


@needs_promtool
def test_promtool_accepts_the_scrape_config_and_its_rules():
    code, output = run_promtool("check", "config", "prometheus.yml")
    assert code == 0, output
    assert "rules.yml" in output


@needs_promtool
def test_promtool_accepts_the_rules():
    code, output = run_promtool("check", "rules", "rules.yml")
    assert code == 0, output


@needs_promtool
def test_alert_rules_pass_their_unit_tests():
    code, output = run_promtool("test", "rules", "rules.test.yml")
    assert code == 0, output
    assert "SUCCESS" in output


def rules():
    return [rule for group in yaml.safe_load((PROMETHEUS / "rules.yml").read_text())["groups"]
            for rule in group["rules"]]


def test_every_alert_has_a_unit_test_and_a_runbook_entry():
    alerts = {rule["alert"] for rule in rules() if "alert" in rule}
    tested = {case["alertname"] for group in yaml.safe_load((PROMETHEUS / "rules.test.yml").read_text())["tests"]
              for case in group.get("alert_rule_test", [])}
    readme = (ROOT / "README.md").read_text()

    assert {"BookapiHighErrorRatio", "BookapiHighLatencyP99", "BookapiTargetDown", "BookapiDbPoolSaturated",
            "BookapiRestarting"} <= alerts
    assert alerts <= tested
    assert [alert for alert in sorted(alerts) if f"`{alert}`" not in readme] == []


def exported_names():
    """The sample names the service exports: its metrics with their type's suffixes, and the master's process
    metrics."""
    names = set(NOT_OURS)
    for collector in vars(metrics).values():
        if isinstance(collector, (Counter, Gauge, Histogram)):
            for family in collector.describe():
                names |= {family.name + suffix for suffix in SUFFIXES[family.type]}
    registry = CollectorRegistry()
    for family in ProcessCollector(registry=registry).collect():
        names |= {sample.name for sample in family.samples}
    return names


def metric_names_in(expression):
    """The metric names an expression reads: what is left once strings, label matchers and lists, ranges, function
    calls, numbers and PromQL's words are taken out."""
    text = re.sub(r'"(?:[^"\\]|\\.)*"', "", expression)
    text = re.sub(r"\{[^}]*\}|\[[^\]]*\]", "", text)
    text = re.sub(r"\b(?:by|without|on|ignoring|group_left|group_right)\s*\([^)]*\)", "", text)
    text = re.sub(r"\b[a-z_]+\s*\(", "(", text)
    text = re.sub(r"\b\d+(?:\.\d+)?(?:e[+-]?\d+)?\b", "", text)
    return {name for name in re.findall(r"[A-Za-z_:][A-Za-z0-9_:]*", text) if name.lower() not in PROMQL_WORDS}


def test_metric_names_in_an_expression_are_found():
    assert metric_names_in(
        'histogram_quantile(0.99, sum by (le) (rate(bookapi_x_bucket{job="a",le!="1"}[$__rate_interval]))) '
        '/ on (job) group_left job:y:rate5m > bool 0.5'
    ) == {"bookapi_x_bucket", "job:y:rate5m"}


def dashboard_panels():
    dashboard = json.loads((GRAFANA / "dashboards" / "bookapi.json").read_text())
    for panel in dashboard["panels"]:
        yield panel
        yield from panel.get("panels", [])


def test_every_dashboard_query_reads_exported_metrics_or_recording_rules():
    known = exported_names() | {rule["record"] for rule in rules() if "record" in rule}
    unknown = {}
    for panel in dashboard_panels():
        for target in panel.get("targets", []):
            names = metric_names_in(target["expr"])
            assert names, f"{panel['title']}: {target['expr']} reads no metric"
            if names - known:
                unknown[panel["title"]] = names - known

    assert unknown == {}


def test_recording_rules_read_exported_metrics():
    exported = exported_names()
    assert {rule["record"]: metric_names_in(rule["expr"]) - exported
            for rule in rules() if "record" in rule} == {rule["record"]: set() for rule in rules() if "record" in rule}


def test_dashboard_shows_the_four_golden_signals():
    rows = {panel["title"] for panel in dashboard_panels() if panel["type"] == "row"}
    assert {"Latency", "Traffic", "Errors", "Saturation"} <= rows


def test_dashboard_uses_the_provisioned_data_source():
    source = yaml.safe_load((GRAFANA / "provisioning" / "datasources" / "prometheus.yml").read_text())
    uids = {target["datasource"]["uid"] for panel in dashboard_panels() for target in panel.get("targets", [])}
    assert uids == {source["datasources"][0]["uid"]}
    assert source["datasources"][0]["url"] == "http://prometheus:9090"


@pytest.fixture(scope="module")
def compose():
    return yaml.safe_load((ROOT / "docker-compose.yml").read_text())


def mounts(service):
    return dict(volume.split(":")[:2] for volume in service["volumes"])


def test_compose_runs_prometheus_and_grafana_behind_the_monitoring_profile(compose):
    prometheus, grafana = compose["services"]["prometheus"], compose["services"]["grafana"]

    assert prometheus["image"].startswith("prom/prometheus:") and grafana["image"].startswith("grafana/grafana:")
    assert prometheus["profiles"] == grafana["profiles"] == ["monitoring"]
    assert "profiles" not in compose["services"]["api"]


def test_compose_prometheus_reads_the_deploy_config(compose):
    prometheus = compose["services"]["prometheus"]
    config = next(arg.split("=", 1)[1] for arg in prometheus["command"] if arg.startswith("--config.file="))
    mounted = {target: source for source, target in mounts(prometheus).items()}
    directory, _, name = config.rpartition("/")

    assert (ROOT / mounted[directory] / name).resolve() == PROMETHEUS / "prometheus.yml"


def test_compose_grafana_is_provisioned_with_the_dashboard(compose):
    grafana = mounts(compose["services"]["grafana"])
    provider = yaml.safe_load((GRAFANA / "provisioning" / "dashboards" / "bookapi.yml").read_text())
    dashboards_dir = provider["providers"][0]["options"]["path"]

    assert grafana["./deploy/grafana/provisioning"] == "/etc/grafana/provisioning"
    assert {source: target for source, target in grafana.items() if target == dashboards_dir} == {
        "./deploy/grafana/dashboards": dashboards_dir,
    }


def test_compose_api_metrics_reach_prometheus_but_are_not_published(compose):
    api = compose["services"]["api"]
    scrape = yaml.safe_load((PROMETHEUS / "prometheus.yml").read_text())
    bookapi = next(job for job in scrape["scrape_configs"] if job["job_name"] == "bookapi")
    discovery = bookapi["dns_sd_configs"][0]

    assert api["environment"]["METRICS_BIND"] == "0.0.0.0"
    assert discovery["names"] == ["api"] and str(discovery["port"]) in api["expose"]
    assert not any(str(discovery["port"]) in str(port) for port in api.get("ports", []))
