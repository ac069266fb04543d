#!/usr/bin/env python3
"""Pairwise precision, recall and F1 of identity's clusters against a corpus's truth.

    python3 tools/corpus/evaluate.py --records records.csv --truth truth.csv \
        --clusters clusters.csv [--json out.json]

`clusters.csv` is `idic export clusters` (source_system, source_record_id, customer_id).
Besides the figures it reports:
- the recall ceiling: true pairs whose records are connected, inside their entity, by
  records that share a usable value (the same e-mail, phone or national id, or two of
  given name, family name, birth date, house, postcode). A pair of one person's records
  with no such chain has nothing a linker could use;
- the missed pairs by cause: the damage tags of the pair's two records (a pair counts
  under each tag it carries), beside each tag's share among all true pairs;
- the false pairs: inside one household (members of one family told apart or not)
  or between households.
"""

import argparse
import collections
import csv
import datetime
import json
import re
import sys


def pairs(n):
    return n * (n - 1) // 2


def read_truth(path):
    truth = {}
    with open(path, newline="") as handle:
        for row in csv.DictReader(handle):
            key = (row["source_system"], row["source_record_id"])
            tags = [tag for tag in row["damage"].split(";") if tag]
            truth[key] = (row["entity_id"], row["household_id"], tags)
    return truth


def read_clusters(path):
    clusters = {}
    with open(path, newline="") as handle:
        for row in csv.DictReader(handle):
            clusters[(row["source_system"], row["source_record_id"])] = row["customer_id"]
    return clusters


PLACEHOLDER_PHONES = {"0000000000", "5555555555", "1234567890"}


def usable_values(row):
    """The values of a record a linker could use, normalized simply."""
    def letters(text):
        return re.sub(r"[^a-z]", "", text.lower())

    values = {}
    email = row["email"].strip().lower()
    if "@" in email:
        values["email"] = email
    digits = re.sub(r"\D", "", row["phone"].split("x")[0])
    if digits.startswith("001"):
        digits = digits[3:]
    elif len(digits) == 11 and digits.startswith("1"):
        digits = digits[1:]
    if len(digits) == 10 and digits not in PLACEHOLDER_PHONES:
        values["phone"] = digits
    ssn = re.sub(r"\D", "", row["id:national"])
    if len(ssn) >= 8:
        values["ssn"] = ssn
    given, family = letters(row["given_name"]), letters(row["family_name"])
    if given:
        values["given"] = given
    if family:
        values["family"] = family
    dob = re.sub(r"\D", "", row["date_of_birth"])
    try:
        if len(dob) == 8:
            datetime.date(int(dob[:4]), int(dob[4:6]), int(dob[6:]))
            values["dob"] = dob
    except ValueError:
        pass
    if row["street_number"] and row["street"]:
        values["house"] = row["street_number"].strip() + " " + letters(row["street"])
    if row["postcode"].strip():
        values["postcode"] = row["postcode"].strip()
    return values


STRONG = ("email", "phone", "ssn")
WEAK = ("given", "family", "dob", "house", "postcode")


def linkable(a, b):
    if any(field in a and a.get(field) == b.get(field) for field in STRONG):
        return True
    return sum(1 for field in WEAK if field in a and a.get(field) == b.get(field)) >= 2


def reachable_pairs(members, values):
    """Pairs of one entity's records joined by a chain of linkable records."""
    parent = list(range(len(members)))

    def find(i):
        while parent[i] != i:
            parent[i] = parent[parent[i]]
            i = parent[i]
        return i

    for i in range(len(members)):
        for j in range(i + 1, len(members)):
            if linkable(values[members[i]], values[members[j]]):
                parent[find(i)] = find(j)
    sizes = collections.Counter(find(i) for i in range(len(members)))
    return sum(pairs(n) for n in sizes.values())


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--records", required=True)
    parser.add_argument("--truth", required=True)
    parser.add_argument("--clusters", required=True)
    parser.add_argument("--json")
    args = parser.parse_args(argv)

    truth = read_truth(args.truth)
    clusters = read_clusters(args.clusters)
    missing = [key for key in truth if key not in clusters]
    if missing:
        sys.exit(f"{len(missing)} records of the truth are not in the clusters, e.g. {missing[0]}")
    values = {}
    with open(args.records, newline="") as handle:
        for row in csv.DictReader(handle):
            values[(row["source_system"], row["source_record_id"])] = usable_values(row)

    by_entity = collections.defaultdict(list)
    for key, (entity, _, _) in truth.items():
        by_entity[entity].append(key)
    cluster_sizes = collections.Counter(clusters[key] for key in truth)
    cell_entity = collections.Counter((clusters[key], entity) for key, (entity, _, _) in truth.items())
    cell_household = collections.Counter((clusters[key], household) for key, (_, household, _) in truth.items())

    true_pairs = sum(pairs(len(members)) for members in by_entity.values())
    found_pairs = sum(pairs(n) for n in cluster_sizes.values())
    tp = sum(pairs(n) for n in cell_entity.values())
    fp, fn = found_pairs - tp, true_pairs - tp
    fp_household = sum(pairs(n) for n in cell_household.values()) - tp
    precision = tp / found_pairs if found_pairs else 1.0
    recall = tp / true_pairs if true_pairs else 1.0
    f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0

    reachable = 0
    tag_true = collections.Counter()
    tag_missed = collections.Counter()
    missed_unreachable = 0
    missed_clean = 0
    for members in by_entity.values():
        if len(members) < 2:
            continue
        reachable += reachable_pairs(members, values)
        for i in range(len(members)):
            for j in range(i + 1, len(members)):
                a, b = members[i], members[j]
                tags = set(truth[a][2]) | set(truth[b][2])
                tag_true.update(tags)
                if clusters[a] == clusters[b]:
                    continue
                tag_missed.update(tags)
                if not tags:
                    missed_clean += 1
                if not linkable(values[a], values[b]):
                    missed_unreachable += 1

    report = {
        "records": len(truth),
        "entities": len(by_entity),
        "clusters": len(cluster_sizes),
        "true_pairs": true_pairs,
        "found_pairs": found_pairs,
        "tp": tp, "fp": fp, "fn": fn,
        "precision": round(precision, 4), "recall": round(recall, 4), "f1": round(f1, 4),
        "recall_ceiling": round(reachable / true_pairs, 4) if true_pairs else 1.0,
        "fp_same_household": fp_household,
        "fp_across_households": fp - fp_household,
        "fn_without_direct_usable_value": missed_unreachable,
        "fn_without_damage": missed_clean,
        "fn_by_damage": [
            {"tag": tag, "missed_pairs": count, "share_of_missed": round(count / fn, 3) if fn else 0,
             "share_of_true": round(tag_true[tag] / true_pairs, 3)}
            for tag, count in tag_missed.most_common(25)
        ],
    }
    print(f"records {report['records']}, entities {report['entities']}, clusters {report['clusters']}")
    print(f"precision {precision:.4f}  recall {recall:.4f}  F1 {f1:.4f}  "
          f"(TP {tp}, FP {fp}, FN {fn}; recall ceiling {report['recall_ceiling']:.4f})")
    print(f"false pairs: {fp_household} inside a household, {fp - fp_household} across households")
    print(f"missed pairs: {missed_unreachable} share no usable value directly, "
          f"{missed_clean} of two undamaged records")
    for item in report["fn_by_damage"][:15]:
        print(f"  {item['tag']:<28} {item['missed_pairs']:>7} missed pairs "
              f"({item['share_of_missed']:.1%} of missed; in {item['share_of_true']:.1%} of true pairs)")
    if args.json:
        with open(args.json, "w") as out:
            json.dump(report, out, indent=1)


if __name__ == "__main__":
    main()
