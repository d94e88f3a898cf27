#!/usr/bin/env python3
"""The hand-written nightly push ferry replaces, as integration teams write it:
requests with a Session, a cached OAuth2 token, batches of 100. Used only as
the CPU reference in bench/push.sh. Prints the CPU seconds it used."""
import csv
import resource
import sys

import requests


def main():
    base, path = sys.argv[1], sys.argv[2]
    s = requests.Session()
    tok = s.post(base + "/oauth/token", data={
        "grant_type": "client_credentials", "client_id": "demo",
        "client_secret": "demo-secret"}).json()["access_token"]
    s.headers["Authorization"] = "Bearer " + tok
    batch, created = [], 0

    def flush():
        nonlocal created
        r = s.post(base + "/credits/batch", json={"value": batch})
        r.raise_for_status()
        created += sum(1 for x in r.json()["results"] if x["status"] == "CREATED")
        batch.clear()

    with open(path, newline="") as f:
        for row in csv.DictReader(f):
            batch.append({
                "participantId": row["participant_id"],
                "transactionDate": row["order_date"],
                "amount": float(row["amount"]),
                "currencyCode": "USD",
                "periodId": "2026-11",
                "sourceRef": row["order_id"],
            })
            if len(batch) == 100:
                flush()
    if batch:
        flush()
    ru = resource.getrusage(resource.RUSAGE_SELF)
    print(f"{created} {ru.ru_utime + ru.ru_stime:.3f}")


if __name__ == "__main__":
    main()
