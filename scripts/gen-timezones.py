#!/usr/bin/env python3
"""Regenerates host/data/timezones.json from pytz: the "common" IANA zone list
and the country → zones table that Open edX's time-zone route uses.
Usage: pip install pytz && python3 scripts/gen-timezones.py"""
import json
import pathlib

import pytz

data = {
    "source": f"pytz {pytz.__version__}",
    "common": list(pytz.common_timezones),
    "countries": {code: list(zones) for code, zones in sorted(pytz.country_timezones.items())},
}
out = pathlib.Path(__file__).resolve().parent.parent / "host" / "data" / "timezones.json"
out.write_text(json.dumps(data, indent=0, ensure_ascii=False) + "\n")
print(f"wrote {out}: {len(data['common'])} zones, {len(data['countries'])} countries")
