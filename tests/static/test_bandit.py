"""Static security scan: bandit over every service and the common library finds nothing of high severity."""
import json
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def test_bandit_finds_no_high_severity_issue():
    scan = subprocess.run(
        [sys.executable, "-m", "bandit", "--recursive", "--format", "json", "--quiet", "--severity-level", "high",
         "--exclude", "*/.venv/*,*/.hypothesis/*", "services", "libs"],
        cwd=ROOT, capture_output=True, text=True, timeout=120)
    report = json.loads(scan.stdout)
    assert report["errors"] == [], report["errors"]
    assert report["metrics"]["_totals"]["loc"] > 1000  # it did scan the code
    findings = [f"{result['filename']}:{result['line_number']} {result['test_id']} {result['issue_text']}"
                for result in report["results"]]
    assert findings == []
