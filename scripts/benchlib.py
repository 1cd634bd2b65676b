"""What the benchmark scripts share: the CLI as a timed child, scratch databases, HTTP calls,
percentiles, the benchmark support policy and the vocabulary of synthetic achievements."""

from __future__ import annotations

import argparse
import http.client
import json
import os
import resource
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from sqlalchemy import create_engine, text

ROOT = Path(__file__).resolve().parents[1]
CLI = str(ROOT / ".venv" / "bin" / "marketplace")
ADMIN_URL = "postgresql+psycopg://postgres@127.0.0.1:5432/test"

# Synthetic listed achievements: two phrases of one field, a title suffix, a summary around them.
WORDS = {
    "new_energy": ["锂离子电池", "固态电池", "正极材料", "光伏组件", "储能系统", "氢燃料电池"],
    "new_materials": ["石墨烯", "碳纤维复合材料", "防腐涂料", "纳米银线", "高分子膜"],
    "electronic_information": ["机器视觉", "芯片设计", "边缘计算", "工业互联网", "传感器"],
    "advanced_manufacturing": ["注塑成型", "数控机床", "工业机器人", "激光焊接", "精密模具"],
    "biomedicine": ["体外诊断", "肿瘤早筛", "医疗器械", "抗体药物", "基因检测"],
    "environment": ["印染废水", "土壤修复", "VOCs治理", "固废资源化", "烟气脱硝"],
    "agriculture": ["水稻育种", "植保无人机", "生物农药", "节水灌溉", "设施农业"],
    "modern_transport": ["智能网联汽车", "轨道交通", "动力总成", "车路协同", "电驱系统"],
    "urban_social": ["智慧城市", "建筑节能", "道路巡检", "装配式建筑", "供水管网"],
    "aerospace": ["航空发动机", "卫星导航", "复合材料机翼", "无人机飞控"],
    "nuclear": ["辐照加工", "同位素示踪", "核电阀门", "辐射防护"],
}
SUFFIX = ["关键技术", "制备方法", "工艺优化", "检测系统", "装备研制", "应用示范"]


def market_arguments(parser: argparse.ArgumentParser, *, seed: int, years: int,
                     reuse: bool = True) -> None:
    """The options that size the synthetic market a benchmark loads (`load_market`), and with
    `reuse` those that keep its database for the next run."""
    parser.add_argument("--contracts", type=int, default=100_000)
    parser.add_argument("--seed", type=int, default=seed)
    parser.add_argument("--start-year", type=int, default=2019)
    parser.add_argument("--years", type=int, default=years)
    if reuse:
        parser.add_argument("--reuse", action="store_true",
                            help="keep the loaded database of an earlier run of this size")
        parser.add_argument("--database", help="database name (default marketplace_bench_N)")


def step(name: str, args: list[str], env: dict[str, str]) -> dict[str, object]:
    """One `marketplace` command in a child process: seconds and peak RSS, printed as JSON."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    start = time.perf_counter()
    result = subprocess.run([CLI, *args], env=env, capture_output=True, text=True)
    seconds = time.perf_counter() - start
    peak = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    if result.returncode:
        sys.exit(f"{name} failed: {result.stderr.strip()[-400:]}")
    row = {"step": name, "seconds": round(seconds, 2),
           "peak_rss_mb": round(max(peak, before) / 1024), "output": result.stdout.strip()[-160:]}
    print(json.dumps(row, ensure_ascii=False), flush=True)
    return row


def fresh_database(name: str, admin_url: str = ADMIN_URL) -> str:
    """Drop and create a PostgreSQL database beside `admin_url`'s; its SQLAlchemy URL."""
    admin = create_engine(admin_url, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    admin.dispose()
    return admin_url.rsplit("/", 1)[0] + f"/{name}"


def bench_policy(year: int, budget: str | None = None) -> dict[str, object]:
    """The support policy the benchmarks run: every type and kind the rules know."""
    return {"code": f"BENCH-{year}", "year": year,
            "rates": {"seller": "0.03", "buyer": "0.10", "intermediary": "0.01"},
            "cap": "500000.00", "min_technical_amount": "0.00",
            "eligible_types": ["development_commissioned", "development_cooperative",
                               "transfer", "license"],
            "eligible_kinds": {"seller": ["university", "research_institute", "enterprise"],
                               "buyer": ["enterprise"], "intermediary": ["intermediary"]},
            "budget": budget}


def load_market(env: dict[str, str], contracts: int, seed: int, start_year: int,
                years: int) -> None:
    """Generate a synthetic market and load it through the CLI into the migrated database."""
    with tempfile.TemporaryDirectory(prefix="bench-") as tmp:
        out = Path(tmp)
        step("generate", ["generate", "--contracts", str(contracts), "--seed", str(seed),
                          "--out", str(out), "--start-year", str(start_year),
                          "--years", str(years)], env)
        step("migrate", ["db", "upgrade"], env)
        for what in ("organisations", "contracts", "payments"):
            step(f"import {what}", ["import", what, str(out / f"{what}.csv")], env)


def clear_loaded(url: str, tables: str) -> bool:
    """TRUNCATE `tables` of a database already loaded with contracts; False (and nothing
    done) when there is no such database or it holds no contract."""
    engine = create_engine(url)
    try:
        with engine.begin() as conn:
            if not conn.execute(text("SELECT count(*) FROM contracts")).scalar():
                return False
            conn.execute(text(f"TRUNCATE {tables} CASCADE"))
    except Exception:  # no such database or tables: load afresh
        return False
    finally:
        engine.dispose()
    return True


def support_steps(env: dict[str, str], year: int, budget: str | None = None) -> None:
    """Load the benchmark policy of `year`, run it, and run it again with nothing new."""
    policy = bench_policy(year, budget)
    with tempfile.NamedTemporaryFile("w", suffix=".json", delete=False) as f:
        json.dump(policy, f)
    try:
        step("support policy load", ["support", "policy", "load", f.name], env)
        step("support run", ["support", "run", "--policy", str(policy["code"])], env)
        step("support rerun, nothing new", ["support", "run", "--policy", str(policy["code"])],
             env)
    finally:
        os.unlink(f.name)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def call(port: int, method: str, path: str, body: object = None,
         headers: dict[str, str] | None = None) -> tuple[int, bytes, dict[str, str]]:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    try:
        payload = None if body is None else json.dumps(body).encode()
        conn.request(method, path, body=payload, headers={
            "Content-Type": "application/json", **(headers or {})})
        response = conn.getresponse()
        return response.status, response.read(), dict(response.getheaders())
    finally:
        conn.close()


def percentile(values: list[float], share: float) -> float:
    """The value below which `share` of the values lie (nearest rank, no interpolation)."""
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(share * len(ordered)))]
