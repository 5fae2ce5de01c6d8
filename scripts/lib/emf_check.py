#!/usr/bin/env python3
"""Checks a log of the consumer's lines: its EMF documents count, by outcome, exactly what its
notices say. Prints both tallies; exits 1 if they differ, or if either is empty (a log with no
notice proves nothing).

Usage: emf_check.py LOGFILE
"""
import collections
import json
import sys

notices, metrics, documents = collections.Counter(), collections.Counter(), 0
for line in open(sys.argv[1], encoding="utf-8", errors="replace"):
    line = line.strip()
    if not line.startswith("{"):
        continue
    try:
        doc = json.loads(line)
    except ValueError:
        continue
    if "_aws" in doc:
        documents += 1
        directives = doc["_aws"]["CloudWatchMetrics"]
        assert all(d["Namespace"] == "payhook" for d in directives), line
        if "Messages" in doc:
            metrics[doc["Outcome"]] += doc["Messages"]
    elif "outcome" in doc and "message_id" in doc and doc["outcome"] != "deferred":
        notices[doc["outcome"]] += 1

print(f"notices by outcome:      {dict(sorted(notices.items()))}")
print(f"EMF Messages by Outcome: {dict(sorted(metrics.items()))} ({documents} documents)")
sys.exit(0 if documents and notices and notices == metrics else 1)
