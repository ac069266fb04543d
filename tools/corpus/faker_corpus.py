#!/usr/bin/env python3
"""An independent record-linkage corpus for `idic import records`.

People come from Faker (en_US, pinned in requirements.txt), not from the project's own
generator; the damage model follows the literature's generators (FEBRL dsgen, GeCo)
and was written from the import format alone, without looking at the matching model.
So the corpus measures the model on data whose rules we did not write: never tune the
model on it.

Population: persons, a third of them in households that share an address (and often a
family name and a landline; some a family e-mail), with twins and fathers and sons of
the same given name ("Jr"). Each person has one to five records in "source systems"
that each collect their own fields. Every record may be damaged: keyboard typos
(insert, delete, substitute a neighbouring key, transpose), OCR and phonetic errors,
missing values, swapped given and family names, values replaced by another plausible
value, nicknames, impossible dates, day and month swapped, invalid phones (area codes
that do not exist come from Faker itself), e-mail domains mistyped.

Writes the import CSV (`--out`) and the truth (`--truth`: source_system,
source_record_id, entity_id, household_id, damage), deterministic by `--seed`.

    python3 tools/corpus/faker_corpus.py --records 100000 --seed 1 \
        --out records.csv --truth truth.csv
"""

import argparse
import csv
import datetime
import random
import sys

from faker import Faker

# ---------------------------------------------------------------------------
# Source systems: what each collects (probability that a field is filled), its channel
# and how often a person has a record there. Written from how such systems are used,
# not from the matcher.
SYSTEMS = {
    # system: (weight, channel, {field: probability})
    "crm": (0.22, "call_center", {"dob": 0.9, "email": 0.8, "phone": 0.9, "address": 0.95, "ssn": 0.0}),
    "webshop": (0.22, "web", {"dob": 0.3, "email": 1.0, "phone": 0.6, "address": 0.9, "ssn": 0.0}),
    "billing": (0.15, "mail", {"dob": 0.8, "email": 0.3, "phone": 0.5, "address": 1.0, "ssn": 0.6}),
    "callcenter": (0.14, "call_center", {"dob": 0.6, "email": 0.2, "phone": 1.0, "address": 0.5, "ssn": 0.0}),
    "loyalty": (0.15, "store", {"dob": 0.7, "email": 0.7, "phone": 0.8, "address": 0.6, "ssn": 0.0}),
    "newsletter": (0.05, "email", {"dob": 0.1, "email": 1.0, "phone": 0.0, "address": 0.2, "ssn": 0.0}),
    "mobileapp": (0.07, "mobile_app", {"dob": 0.5, "email": 0.9, "phone": 0.9, "address": 0.3, "ssn": 0.0}),
}

# The "full" profile: every system collects every field (as the classic benchmark sets
# do); only the damage leaves some out. The national id is on half of the records.
FULL_FORM = {"dob": 1.0, "email": 1.0, "phone": 1.0, "address": 1.0, "ssn": 0.5}

# Records per person: 1..5 (mean 2.2).
RECORDS_PER_PERSON = [(1, 0.34), (2, 0.30), (3, 0.20), (4, 0.11), (5, 0.05)]
# Modifications per record.
MODIFICATIONS = [(0, 0.35), (1, 0.35), (2, 0.20), (3, 0.10)]

# Nicknames (written for this corpus from common English usage).
NICKNAMES = {
    "william": ["bill", "will", "billy", "liam"], "robert": ["bob", "rob", "bobby"],
    "richard": ["rick", "dick", "rich"], "james": ["jim", "jimmy", "jamie"],
    "john": ["jack", "johnny"], "joseph": ["joe", "joey"], "michael": ["mike", "mikey"],
    "thomas": ["tom", "tommy"], "christopher": ["chris", "kit"], "daniel": ["dan", "danny"],
    "matthew": ["matt"], "anthony": ["tony"], "charles": ["charlie", "chuck"],
    "david": ["dave", "davey"], "steven": ["steve"], "stephen": ["steve"],
    "edward": ["ed", "eddie", "ted"], "andrew": ["andy", "drew"], "nicholas": ["nick"],
    "benjamin": ["ben", "benny"], "samuel": ["sam"], "jonathan": ["jon"],
    "timothy": ["tim"], "gregory": ["greg"], "kenneth": ["ken", "kenny"],
    "ronald": ["ron", "ronnie"], "donald": ["don", "donny"], "patrick": ["pat"],
    "alexander": ["alex", "xander"], "zachary": ["zach"], "jeffrey": ["jeff"],
    "raymond": ["ray"], "lawrence": ["larry"], "frederick": ["fred", "freddie"],
    "elizabeth": ["liz", "beth", "betty", "lizzie"], "margaret": ["maggie", "peggy", "meg"],
    "katherine": ["kate", "kathy", "katie"], "catherine": ["cathy", "kate"],
    "jennifer": ["jen", "jenny"], "jessica": ["jess", "jessie"], "patricia": ["pat", "patty", "trish"],
    "susan": ["sue", "susie"], "deborah": ["deb", "debbie"], "rebecca": ["becky", "becca"],
    "christina": ["chris", "tina"], "christine": ["chris", "tina"], "victoria": ["vicky", "tori"],
    "samantha": ["sam"], "alexandra": ["alex", "sandra"], "abigail": ["abby"],
    "kimberly": ["kim"], "melissa": ["mel", "missy"], "stephanie": ["steph"],
    "pamela": ["pam"], "cynthia": ["cindy"], "barbara": ["barb", "babs"],
    "dorothy": ["dot", "dottie"], "theresa": ["terry", "tess"], "amanda": ["mandy"],
    "nicole": ["nikki"], "angela": ["angie"], "kathleen": ["kathy", "kate"],
    "virginia": ["ginny"], "judith": ["judy"], "frances": ["fran"],
}

# Ages are counted from this day.
REFERENCE = datetime.date(2026, 1, 1)

QWERTY = ["qwertyuiop", "asdfghjkl", "zxcvbnm"]
NEIGHBOURS = {}
for row_index, row in enumerate(QWERTY):
    for col, char in enumerate(row):
        near = set()
        for d_row in (-1, 0, 1):
            r = row_index + d_row
            if 0 <= r < len(QWERTY):
                for d_col in (-1, 0, 1):
                    c = col + d_col
                    if 0 <= c < len(QWERTY[r]) and (d_row, d_col) != (0, 0):
                        near.add(QWERTY[r][c])
        NEIGHBOURS[char] = sorted(near)
DIGIT_NEIGHBOURS = {str(d): [str((d + 1) % 10), str((d + 9) % 10)] for d in range(10)}

# OCR confusions (GeCo's lookup-file idea, our own list).
OCR = [("m", "rn"), ("rn", "m"), ("l", "1"), ("1", "l"), ("o", "0"), ("0", "o"),
       ("s", "5"), ("5", "s"), ("b", "8"), ("8", "b"), ("i", "l"), ("cl", "d"),
       ("d", "cl"), ("w", "vv"), ("g", "q"), ("e", "c"), ("h", "b"), ("u", "v")]
# Phonetic rewrites (spelling by ear).
PHONETIC = [("ph", "f"), ("f", "ph"), ("ck", "k"), ("c", "k"), ("k", "c"), ("ie", "y"),
            ("y", "ie"), ("ee", "ea"), ("ea", "ee"), ("ou", "ow"), ("th", "t"),
            ("ll", "l"), ("nn", "n"), ("tt", "t"), ("ss", "s"), ("mm", "m"),
            ("son", "sen"), ("sen", "son"), ("ai", "ay"), ("ey", "y"), ("z", "s"),
            ("s", "z"), ("x", "ks"), ("qu", "kw"), ("gh", "g"), ("wr", "r")]


def weighted(rng, pairs):
    roll = rng.random()
    total = 0.0
    for value, weight in pairs:
        total += weight
        if roll < total:
            return value
    return pairs[-1][0]


# ---------------------------------------------------------------------------
# Damage


def keyboard_typo(rng, value):
    if not value:
        return value
    kind = rng.choice(["insert", "delete", "substitute", "transpose"])
    pos = rng.randrange(len(value))
    char = value[pos]
    near = NEIGHBOURS.get(char.lower()) or DIGIT_NEIGHBOURS.get(char) or ["e"]
    if kind == "insert":
        return value[:pos] + rng.choice(near) + value[pos:]
    if kind == "delete" and len(value) > 1:
        return value[:pos] + value[pos + 1:]
    if kind == "transpose" and len(value) > 1:
        pos = min(pos, len(value) - 2)
        return value[:pos] + value[pos + 1] + value[pos] + value[pos + 2:]
    replacement = rng.choice(near)
    if char.isupper():
        replacement = replacement.upper()
    return value[:pos] + replacement + value[pos + 1:]


def rewrite(rng, value, rules):
    """Applies one rule of `rules` found in `value` (case kept at the first letter)."""
    lower = value.lower()
    found = [(a, b) for a, b in rules if a in lower]
    if not found:
        return None
    a, b = rng.choice(found)
    starts = [i for i in range(len(lower)) if lower.startswith(a, i)]
    pos = rng.choice(starts)
    out = lower[:pos] + b + lower[pos + len(a):]
    if value[:1].isupper():
        out = out[:1].upper() + out[1:]
    return out


def damage_text(rng, value, fresh, nickname=False):
    """One modification of a text value; (new value, tag)."""
    choices = [("typo", 0.45), ("ocr", 0.10), ("phonetic", 0.15), ("missing", 0.15), ("replaced", 0.15)]
    if nickname:
        choices = [("nickname", 0.2)] + [(k, w * 0.8) for k, w in choices]
    kind = weighted(rng, choices)
    if kind == "nickname":
        names = NICKNAMES.get(value.lower())
        if names:
            return rng.choice(names).capitalize(), "nickname"
        kind = "typo"
    if kind == "ocr":
        out = rewrite(rng, value, OCR)
        if out is not None:
            return out, "ocr"
        kind = "typo"
    if kind == "phonetic":
        out = rewrite(rng, value, PHONETIC)
        if out is not None:
            return out, "phonetic"
        kind = "typo"
    if kind == "missing":
        return "", "missing"
    if kind == "replaced":
        return fresh(), "replaced"
    return keyboard_typo(rng, value), "typo"


def damage_date(rng, value, fresh):
    """value: a date; returns (text, tag)."""
    kind = weighted(rng, [("typo", 0.30), ("swap", 0.15), ("impossible", 0.15),
                          ("missing", 0.20), ("replaced", 0.10), ("year", 0.10)])
    year, month, day = value.year, value.month, value.day
    if kind == "missing":
        return "", "missing"
    if kind == "replaced":
        return fresh().isoformat(), "replaced"
    if kind == "year":
        return f"{year + rng.choice([-1, 1]):04d}-{month:02d}-{day:02d}", "year"
    if kind == "swap":
        return f"{year:04d}-{day:02d}-{month:02d}", "swapped_day_month"
    if kind == "impossible":
        options = [f"{year:04d}-02-{rng.choice([30, 31]):02d}",
                   f"{year:04d}-{rng.choice([13, 14, 19, 21]):02d}-{day:02d}",
                   f"{year:04d}-{month:02d}-{rng.choice([32, 35, 39]):02d}",
                   f"{year:04d}-{month:02d}-00"]
        return rng.choice(options), "impossible_date"
    text = f"{year:04d}{month:02d}{day:02d}"
    pos = rng.randrange(len(text))
    text = text[:pos] + rng.choice(DIGIT_NEIGHBOURS[text[pos]]) + text[pos + 1:]
    return f"{text[:4]}-{text[4:6]}-{text[6:]}", "typo"


def phone_digits(text):
    digits = "".join(ch for ch in text.split("x")[0] if ch.isdigit())
    if digits.startswith("001"):
        digits = digits[3:]
    elif len(digits) == 11 and digits.startswith("1"):
        digits = digits[1:]
    return digits


def render_phone(rng, digits, original):
    """The same number as another system writes it."""
    if len(digits) != 10:
        return original
    a, b, c = digits[:3], digits[3:6], digits[6:]
    return rng.choice([original, f"({a}) {b}-{c}", f"{a}-{b}-{c}", f"{a}.{b}.{c}",
                       f"+1 {a} {b} {c}", f"{a}{b}{c}", f"1-{a}-{b}-{c}"])


def damage_phone(rng, value, fresh):
    kind = weighted(rng, [("typo", 0.30), ("missing", 0.30), ("invalid", 0.20), ("replaced", 0.20)])
    if kind == "missing":
        return "", "missing"
    if kind == "replaced":
        return fresh(), "replaced"
    digits = phone_digits(value)
    if kind == "invalid":
        return rng.choice(["000-000-0000", "555-555-5555", "123-456-7890",
                           digits[:-1] if len(digits) > 6 else "0",
                           "n/a"]), "invalid_phone"
    if not digits:
        return value, "typo"
    pos = rng.randrange(len(digits))
    digits = digits[:pos] + rng.choice(DIGIT_NEIGHBOURS[digits[pos]]) + digits[pos + 1:]
    return render_phone(rng, digits, digits), "typo"


def damage_email(rng, value, fresh):
    kind = weighted(rng, [("typo", 0.40), ("domain", 0.20), ("missing", 0.20), ("replaced", 0.20)])
    if kind == "missing" or "@" not in value:
        return "", "missing"
    if kind == "replaced":
        return fresh(), "replaced"
    local, domain = value.split("@", 1)
    if kind == "domain":
        return local + "@" + keyboard_typo(rng, domain), "domain_typo"
    return keyboard_typo(rng, local) + "@" + domain, "typo"


# ---------------------------------------------------------------------------
# Population


class Population:
    def __init__(self, seed):
        self.fake = Faker("en_US")
        self.fake.seed_instance(seed)
        self.rng = random.Random(seed * 7919 + 17)
        self.entity = 0
        self.household = 0

    def dob(self, low=18, high=90):
        """A birth date `low` to `high` years before the fixed reference day (not today:
        the corpus must not change with the day it is made)."""
        start = REFERENCE.replace(year=REFERENCE.year - high - 1) + datetime.timedelta(days=1)
        end = REFERENCE.replace(year=REFERENCE.year - low)
        return self.fake.date_between_dates(start, end)

    def email_for(self, given, family, dob):
        rng = self.rng
        g, f = given.lower(), family.lower().replace(" ", "").replace("'", "")
        local = rng.choice([f"{g}.{f}", f"{g}{f}", f"{g[0]}{f}", f"{g}_{f}",
                            f"{g}.{f}{dob.year % 100:02d}", f"{f}{g[0]}{rng.randint(1, 99)}",
                            f"{g}{rng.randint(1, 999)}", self.fake.user_name()])
        domain = self.fake.free_email_domain() if rng.random() < 0.8 else self.fake.domain_name()
        return f"{local}@{domain}"

    def address(self):
        fake = self.fake
        return {
            "street_number": fake.building_number(),
            "street": fake.street_name(),
            "address_line2": fake.secondary_address() if self.rng.random() < 0.3 else "",
            "locality": fake.city(),
            "region": fake.state_abbr(),
            "postcode": fake.postcode(),
        }

    def person(self, household, address, family, sex=None, dob=None, given=None, suffix=""):
        fake = self.fake
        sex = sex or self.rng.choice("MF")
        given = given or (fake.first_name_male() if sex == "M" else fake.first_name_female())
        dob = dob or self.dob()
        self.entity += 1
        middle = fake.first_name_male() if sex == "M" else fake.first_name_female()
        return {
            "entity": f"E{self.entity:07d}",
            "household": household,
            "sex": sex,
            "given": given,
            "middle": middle if self.rng.random() < 0.5 else "",
            "family": family,
            "suffix": suffix,
            "dob": dob,
            "emails": [self.email_for(given, family, dob)]
            + ([self.email_for(given, family, dob)] if self.rng.random() < 0.3 else []),
            "mobile": fake.phone_number(),
            "landline": "",
            "address": address,
            "ssn": fake.ssn(),
        }

    def households(self):
        """Yields lists of persons: one alone, or a household sharing an address."""
        rng = self.rng
        while True:
            self.household += 1
            household = f"H{self.household:07d}"
            address = self.address()
            family = self.fake.last_name()
            if rng.random() < 0.67:
                yield [self.person(household, address, family)]
                continue
            landline = self.fake.phone_number() if rng.random() < 0.6 else ""
            family_email = ""
            if rng.random() < 0.1:
                family_email = f"{family.lower()}family@{self.fake.free_email_domain()}"
            head = self.person(household, address, family, sex="M")
            partner_family = family if rng.random() < 0.8 else self.fake.last_name()
            members = [head, self.person(household, address, partner_family, sex="F",
                                         dob=self.dob(head_age(head) - 8, head_age(head) + 8))]
            children = weighted(rng, [(0, 0.3), (1, 0.3), (2, 0.3), (3, 0.1)])
            twins = children >= 2 and rng.random() < 0.15
            junior = rng.random() < 0.15
            # Children old enough to be customers themselves.
            base_dob = self.dob(12, max(13, head_age(head) - 20))
            for child in range(children):
                if child == 0 and junior:
                    members.append(self.person(household, address, family, sex="M",
                                               given=head["given"], dob=base_dob, suffix="Jr"))
                    head["suffix_senior"] = True
                elif child == 1 and twins:
                    members.append(self.person(household, address, family, dob=base_dob))
                else:
                    members.append(self.person(household, address, family,
                                               dob=self.dob(12, max(13, head_age(head) - 20))))
            for member in members:
                member["landline"] = landline
                if family_email:
                    member["emails"].append(family_email)
            yield members


def head_age(person):
    return max(18, REFERENCE.year - person["dob"].year)


# ---------------------------------------------------------------------------
# Records


COLUMNS = ["source_system", "source_record_id", "channel", "given_name", "middle_name",
           "family_name", "organization_name", "date_of_birth", "email", "phone",
           "street_number", "street", "address_line2", "locality", "postcode", "region",
           "country", "id:national"]


class Writer:
    def __init__(self, population, seed, full_forms):
        self.pop = population
        self.full_forms = full_forms
        self.rng = random.Random(seed * 104729 + 3)
        self.counters = {system: 0 for system in SYSTEMS}
        self.systems = [(name, spec[0]) for name, spec in SYSTEMS.items()]

    def record(self, person):
        rng, fake = self.rng, self.pop.fake
        system = weighted(rng, self.systems)
        _, channel, collects = SYSTEMS[system]
        if self.full_forms:
            collects = FULL_FORM
        self.counters[system] += 1
        rid = f"{system[:3].upper()}{self.counters[system]:08d}"
        address = person["address"]
        row = {c: "" for c in COLUMNS}
        row.update(source_system=system, source_record_id=rid, channel=channel,
                   given_name=person["given"], family_name=person["family"],
                   country="US" if rng.random() < 0.5 else "")
        if person["suffix"] and rng.random() < 0.6:
            row["family_name"] = f"{person['family']} {person['suffix']}"
        if person["middle"] and rng.random() < 0.5:
            row["middle_name"] = person["middle"] if rng.random() < 0.5 else person["middle"][0]
        if rng.random() < collects["dob"]:
            row["date_of_birth"] = person["dob"].isoformat() if rng.random() < 0.8 \
                else person["dob"].strftime("%Y%m%d")
        if rng.random() < collects["email"] and person["emails"]:
            row["email"] = rng.choice(person["emails"])
        if rng.random() < collects["phone"]:
            number = person["landline"] if person["landline"] and rng.random() < 0.35 else person["mobile"]
            row["phone"] = render_phone(rng, phone_digits(number), number)
        if rng.random() < collects["address"]:
            for key in ("street_number", "street", "address_line2", "locality", "region", "postcode"):
                row[key] = address[key]
        if rng.random() < collects["ssn"]:
            row["id:national"] = person["ssn"]
        tags = self.damage(row, person)
        if rng.random() < 0.05:
            for key in ("given_name", "middle_name", "family_name"):
                row[key] = row[key].upper()
        return row, tags

    def damage(self, row, person):
        rng, pop = self.rng, self.pop
        tags = []
        if rng.random() < 0.04 and row["given_name"] and row["family_name"]:
            row["given_name"], row["family_name"] = row["family_name"], row["given_name"]
            tags.append("swapped_names")
        fields = [("given_name", 0.20), ("family_name", 0.17), ("date_of_birth", 0.15),
                  ("email", 0.10), ("phone", 0.10), ("street", 0.08), ("street_number", 0.05),
                  ("locality", 0.05), ("postcode", 0.05), ("id:national", 0.05)]
        for _ in range(weighted(rng, MODIFICATIONS)):
            field = weighted(rng, fields)
            value = row[field]
            if not value:
                continue
            if field == "given_name":
                fresh = pop.fake.first_name_male if person["sex"] == "M" else pop.fake.first_name_female
                row[field], tag = damage_text(rng, value, fresh, nickname=True)
            elif field == "family_name":
                row[field], tag = damage_text(rng, value, pop.fake.last_name)
            elif field == "date_of_birth":
                row[field], tag = damage_date(rng, person["dob"], pop.dob)
            elif field == "email":
                row[field], tag = damage_email(
                    rng, value, lambda: pop.email_for(person["given"], person["family"], person["dob"]))
            elif field == "phone":
                row[field], tag = damage_phone(rng, value, pop.fake.phone_number)
            elif field == "street":
                row[field], tag = damage_text(rng, value, pop.fake.street_name)
            elif field == "locality":
                row[field], tag = damage_text(rng, value, pop.fake.city)
            elif field == "postcode":
                kind = rng.random()
                if kind < 0.5:
                    row[field], tag = keyboard_typo(rng, value), "typo"
                elif kind < 0.75:
                    row[field], tag = "", "missing"
                else:
                    row[field], tag = pop.fake.postcode(), "replaced"
            elif field == "street_number":
                kind = rng.random()
                if kind < 0.5:
                    row[field], tag = keyboard_typo(rng, value), "typo"
                elif kind < 0.7:
                    row[field], tag = "", "missing"
                else:
                    row[field], tag = pop.fake.building_number(), "replaced"
            else:  # id:national
                kind = rng.random()
                if kind < 0.6:
                    row[field], tag = keyboard_typo(rng, value.replace("-", "")), "typo"
                elif kind < 0.8:
                    row[field], tag = "", "missing"
                else:
                    row[field], tag = pop.fake.ssn(), "replaced"
            tags.append(f"{tag}:{field}")
        return tags


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--records", type=int, required=True)
    parser.add_argument("--seed", type=int, required=True)
    parser.add_argument("--out", required=True)
    parser.add_argument("--truth", required=True)
    parser.add_argument(
        "--profile", choices=["collected", "full"], default="collected",
        help="collected: each source system fills only what it collects (sparse records); "
        "full: every record carries every field before the damage")
    args = parser.parse_args(argv)

    population = Population(args.seed)
    writer = Writer(population, args.seed, args.profile == "full")
    rows = []
    for members in population.households():
        for person in members:
            count = weighted(writer.rng, RECORDS_PER_PERSON)
            for _ in range(count):
                row, tags = writer.record(person)
                rows.append((row, person["entity"], person["household"], tags))
        if len(rows) >= args.records:
            break
    rows = rows[: args.records]
    # Sources load in no particular order: duplicates are not neighbours.
    random.Random(args.seed).shuffle(rows)
    with open(args.out, "w", newline="") as out, open(args.truth, "w", newline="") as truth:
        records = csv.DictWriter(out, fieldnames=COLUMNS)
        records.writeheader()
        truths = csv.writer(truth)
        truths.writerow(["source_system", "source_record_id", "entity_id", "household_id", "damage"])
        for row, entity, household, tags in rows:
            records.writerow(row)
            truths.writerow([row["source_system"], row["source_record_id"], entity, household,
                             ";".join(tags)])
    print(f"{len(rows)} records of {population.entity} persons in {population.household} addresses",
          file=sys.stderr)


if __name__ == "__main__":
    main()
