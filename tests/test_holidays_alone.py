"""`rules.dates.country_holidays` imports only the policy's country from the `holidays`
package (its `holidays.countries` imports all 250) and gives exactly the package's holidays."""

from __future__ import annotations

import json
import subprocess
import sys

from kontaktsync.rules.policy import BUILTIN_IDS, load_policy

from tests.cli import clean_env

PROBE = """
import json, sys
from datetime import date
from kontaktsync.rules.dates import country_holidays

regions = json.loads(sys.argv[1])
alone = {}
classes = {}
for country, subdivision in regions:
    h = classes[country] = country_holidays(country, subdivision)
    for year in range(2000, 2041):
        h.get(date(year, 1, 1))  # the package makes a year's holidays when first asked
    alone[f"{country}-{subdivision}"] = sorted((d.isoformat(), n) for d, n in h.items())
countries = sorted(m for m in sys.modules if m.startswith("holidays.countries"))
import pickle
from kontaktsync.rules.dates import Calendar
pickles = pickle.loads(pickle.dumps(Calendar("DE", "BY"))).is_working_day(date(2026, 1, 6)) is False

import holidays  # now the package's own way, every country
import holidays.countries

package = {}
for country, subdivision in regions:
    h = holidays.country_holidays(country, subdiv=subdivision)
    for year in range(2000, 2041):
        h.get(date(year, 1, 1))
    package[f"{country}-{subdivision}"] = sorted((d.isoformat(), n) for d, n in h.items())
print(json.dumps({"alone": alone, "package": package, "countries_before": countries, "pickles": pickles,
                  "one_class": holidays.countries.Germany is type(classes["DE"])
                               and holidays.countries.Austria is type(classes["AT"]),
                  "all_after": len([m for m in sys.modules if m.startswith("holidays.countries.")])}))
"""


def test_one_countrys_holidays_are_the_packages_and_nothing_else_is_imported() -> None:
    regions = sorted(
        {(p.region.country, p.region.subdivision) for p in map(load_policy, BUILTIN_IDS)}, key=str
    )
    regions += [("DE", None), ("AT", "9")]
    r = subprocess.run(
        [sys.executable, "-c", PROBE, json.dumps(regions)],
        env=clean_env(), capture_output=True, text=True, timeout=120, check=True,
    )  # fmt: skip
    got = json.loads(r.stdout)
    # only the countries asked for: not the package's other 248
    assert got["countries_before"] == ["holidays.countries.austria", "holidays.countries.germany"]
    assert got["alone"] == got["package"]
    assert all(len(v) > 300 for v in got["alone"].values())  # 41 years of holidays each
    assert got["pickles"]  # a calendar pickles (6 January: a holiday in Bavaria)
    assert got["one_class"] and got["all_after"] > 200  # the real package works after, with those classes
