"""The project's own generator of realistic sample catalogues (MARC21 and UNIMARC records with
items, libraries, item types, patron categories, circulation rules and patrons).

Deterministic for a given seed, so tests and benchmarks see the same catalogue every time.
Titles mix English, French (with diacritics), German, Russian, Greek and Japanese words so that
search normalisation and non-Latin scripts are exercised.
"""

from __future__ import annotations

import datetime as dt
import random
from collections.abc import Iterator
from dataclasses import dataclass

import pymarc
from sqlalchemy import select
from sqlalchemy.orm import Session

from .models import CirculationRule, ItemType, Library, Patron, PatronCategory

LIBRARIES = [("CPL", "Centerville"), ("FFL", "Fairfield"), ("MPL", "Midway"), ("FPL", "Fairview")]
ITEM_TYPES = [("BK", "Books"), ("CF", "Computer files"), ("DVD", "DVDs"), ("MU", "Music"),
              ("SER", "Serials"), ("REF", "Reference")]
CATEGORIES = [("PT", "Patron", "A"), ("ST", "Student", "A"), ("K", "Kid", "C"), ("S", "Staff", "S")]

WORDS = {
    "eng": "river garden history ocean mountain coral reef island winter summer music science city "
           "light shadow journey forest memory stone bridge library night star paper silver machine "
           "empire letters voyage harbour".split(),
    "fre": "récifs jardin histoire océan montagne île hiver été musique château lumière ombre voyage "
           "forêt mémoire pierre pont bibliothèque nuit étoile papier argent élève cœur noël".split(),
    "ger": "Fluss Garten Geschichte Meer Berg Insel Winter Sommer Musik Straße Licht Schatten Reise "
           "Wald Brücke Bücherei Nacht Größe Übung".split(),
    "rus": "река сад история океан гора остров зима лето музыка город свет тень путешествие лес "
           "память камень мост библиотека".split(),
    "gre": "ποταμός κήπος ιστορία θάλασσα βουνό νησί χειμώνας καλοκαίρι μουσική πόλη φως".split(),
    "jpn": "川 庭 歴史 海 山 島 冬 夏 音楽 都市 光 影 旅 森 記憶 石 橋 図書館".split(),
}
LANG_WEIGHTS = [("eng", 60), ("fre", 15), ("ger", 10), ("rus", 6), ("gre", 4), ("jpn", 5)]
SURNAMES = "Smith Martin Dupont Müller Ivanov Papadopoulos Tanaka García Rossi Novak Nguyen Kowalski " \
           "Johansson O'Brien Lefèvre Schröder".split()
FORENAMES = "Anna Jean Pierre Maria Ivan Sofia Kenji Lucia Marco Eva Thomas Chloé Lars Ana".split()
SUBJECTS = "Coral reefs|Marine biology|Libraries|History|Music|Mountains|Islands|Poetry|Physics|" \
           "Gardening|Cooking|Architecture|Astronomy|Travel|Economics|Philosophy".split("|")
PUBLISHERS = ["Penguin", "Gallimard", "Suhrkamp", "Oxford University Press", "Éditions du Seuil",
              "Springer", "Nauka", "Iwanami Shoten"]
PLACES = ["London", "Paris", "Berlin", "Oxford", "New York", "Moscow", "Tokyo", "Montréal"]


@dataclass
class GeneratedRecord:
    record: pymarc.Record
    items: list[dict]


def isbn13(rng: random.Random) -> str:
    from .search.normalize import isbn13 as with_check_digit

    return with_check_digit("978" + "".join(str(rng.randint(0, 9)) for _ in range(9)))


def _title(rng: random.Random, lang: str) -> str:
    words = rng.sample(WORDS[lang], k=rng.randint(2, 4))
    sep = "" if lang == "jpn" else " "
    text = sep.join(words)
    return text[0].upper() + text[1:]


def _lang(rng: random.Random) -> str:
    return rng.choices([lang for lang, _ in LANG_WEIGHTS], [w for _, w in LANG_WEIGHTS])[0]


def _sf(*pairs: str) -> list[pymarc.Subfield]:
    return [pymarc.Subfield(code=pairs[i], value=pairs[i + 1]) for i in range(0, len(pairs), 2)]


def _field(tag: str, ind: str, *pairs: str) -> pymarc.Field:
    return pymarc.Field(tag=tag, indicators=pymarc.Indicators(ind[0], ind[1]), subfields=_sf(*pairs))


def generate_records(count: int, seed: int = 1, flavour: str = "MARC21", start: int = 1) -> Iterator[GeneratedRecord]:
    rng = random.Random(seed)
    for n in range(start, start + count):
        yield (_marc21 if flavour == "MARC21" else _unimarc)(rng, n)


def _items(rng: random.Random, n: int, itype: str) -> list[dict]:
    items = []
    for copy in range(rng.choices([0, 1, 2, 3], [10, 55, 25, 10])[0]):
        home = rng.choice(LIBRARIES)[0]
        items.append({
            "barcode": f"3{n:08d}{copy}", "homebranch": home, "holdingbranch": home, "itype": itype,
            "itemcallnumber": f"{rng.randint(0, 999):03d}.{rng.randint(1, 99)} {rng.choice(SURNAMES)[:3].upper()}",
            "location": rng.choice(["GEN", "REF", "CHILD", "STACKS"]), "copynumber": str(copy + 1),
            "dateaccessioned": dt.date(2015, 1, 1) + dt.timedelta(days=rng.randint(0, 3000)),
            "price": round(rng.uniform(5, 80), 2), "notforloan": 1 if rng.random() < 0.03 else 0,
            "itemlost": 1 if rng.random() < 0.01 else 0, "withdrawn": 0, "damaged": 0,
        })
    return items


def _marc21(rng: random.Random, n: int) -> GeneratedRecord:
    lang = _lang(rng)
    year = rng.randint(1850, 2025)
    itype = rng.choices(["BK", "DVD", "MU", "CF", "SER"], [75, 8, 7, 4, 6])[0]
    record = pymarc.Record(leader="00000n{}m a22000007a 4500".format("s" if itype == "SER" else "a"))
    if itype == "SER":
        record.leader = pymarc.Leader("00000nas a22000007a 4500")
    record.add_field(pymarc.Field(tag="001", data=f"kw{n:08d}"))
    record.add_field(pymarc.Field(tag="003", data="KOHAWEB"))
    record.add_field(pymarc.Field(tag="005", data="20240101120000.0"))
    record.add_field(pymarc.Field(tag="008", data=f"240101s{year}    xx            000 0 {lang} d"))
    if itype == "SER":
        record.add_field(_field("022", "  ", "a", f"{rng.randint(1000, 9999)}-{rng.randint(100, 999)}X"))
    else:
        record.add_field(_field("020", "  ", "a", isbn13(rng)))
    record.add_field(_field("040", "  ", "a", "KOHAWEB", "b", "eng", "c", "KOHAWEB"))
    record.add_field(_field("041", "0 ", "a", lang))
    surname, forename = rng.choice(SURNAMES), rng.choice(FORENAMES)
    record.add_field(_field("100", "1 ", "a", f"{surname}, {forename},", "d", f"{year - rng.randint(25, 70)}-"))
    title = _title(rng, lang)
    subtitle = _title(rng, lang)
    record.add_field(_field("245", "10", "a", f"{title} :", "b", f"{subtitle} /", "c", f"{forename} {surname}."))
    if rng.random() < 0.3:
        record.add_field(_field("250", "  ", "a", f"{rng.randint(2, 9)}th ed."))
    record.add_field(_field("264", " 1", "a", f"{rng.choice(PLACES)} :", "b", f"{rng.choice(PUBLISHERS)},",
                            "c", f"{year}."))
    record.add_field(_field("300", "  ", "a", f"{rng.randint(40, 900)} pages ;", "c", "24 cm"))
    record.add_field(_field("336", "  ", "a", "text", "b", "txt", "2", "rdacontent"))
    if rng.random() < 0.2:
        record.add_field(_field("490", "0 ", "a", f"{_title(rng, 'eng')} series", "v", str(rng.randint(1, 40))))
    record.add_field(_field("500", "  ", "a", f"Sample record {n} generated by kohaweb."))
    if rng.random() < 0.5:
        record.add_field(_field("520", "  ", "a", f"About {title.lower()} and {subtitle.lower()}."))
    for subject in rng.sample(SUBJECTS, k=rng.randint(1, 3)):
        record.add_field(_field("650", " 0", "a", subject, "x", rng.choice(["History", "Study and teaching",
                                                                             "Juvenile literature"])))
    if rng.random() < 0.4:
        record.add_field(_field("700", "1 ", "a", f"{rng.choice(SURNAMES)}, {rng.choice(FORENAMES)},", "e", "editor."))
    if rng.random() < 0.15:
        record.add_field(_field("856", "40", "u", f"https://example.org/resource/{n}", "z", "Online version"))
    record.add_field(_field("942", "  ", "c", itype, "2", "ddc"))
    return GeneratedRecord(record, _items(rng, n, itype))


def _unimarc(rng: random.Random, n: int) -> GeneratedRecord:
    lang = _lang(rng)
    year = rng.randint(1850, 2025)
    itype = rng.choices(["BK", "DVD", "MU"], [85, 8, 7])[0]
    record = pymarc.Record(leader="00000nam  2200000   4500")
    record.add_field(pymarc.Field(tag="001", data=f"uk{n:08d}"))
    record.add_field(_field("010", "  ", "a", isbn13(rng)))
    record.add_field(_field("100", "  ", "a", f"20240101d{year}    m  y0frey50      ba"))
    record.add_field(_field("101", "0 ", "a", lang))
    title = _title(rng, lang)
    surname, forename = rng.choice(SURNAMES), rng.choice(FORENAMES)
    record.add_field(_field("200", "1 ", "a", title, "e", _title(rng, lang), "f", f"{forename} {surname}"))
    record.add_field(_field("210", "  ", "a", rng.choice(PLACES), "c", rng.choice(PUBLISHERS), "d", str(year)))
    record.add_field(_field("215", "  ", "a", f"{rng.randint(40, 900)} p."))
    if rng.random() < 0.5:
        record.add_field(_field("330", "  ", "a", f"Résumé : {title.lower()}."))
    for subject in rng.sample(SUBJECTS, k=rng.randint(1, 3)):
        record.add_field(_field("606", "  ", "a", subject))
    record.add_field(_field("700", " 1", "a", surname, "b", forename, "4", "070"))
    record.add_field(_field("801", " 0", "a", "FR", "b", "KOHAWEB", "c", "20240101"))
    record.add_field(_field("099", "  ", "t", itype))
    return GeneratedRecord(record, _items(rng, n, itype))


def ensure_reference_data(session: Session) -> None:
    """Libraries, item types, patron categories and default circulation rules, if missing."""
    for code, name in LIBRARIES:
        if session.get(Library, code) is None:
            session.add(Library(branchcode=code, branchname=name, branchcity=name, pickup_location=True, public=True))
    for code, description in ITEM_TYPES:
        if session.get(ItemType, code) is None:
            session.add(ItemType(itemtype=code, description=description, notforloan=code == "REF"))
    for code, description, kind in CATEGORIES:
        if session.get(PatronCategory, code) is None:
            session.add(PatronCategory(categorycode=code, description=description, category_type=kind,
                                       enrolmentperiod=24))
    if session.scalar(select(CirculationRule.id).limit(1)) is None:
        for name, value in (("issuelength", "21"), ("renewalsallowed", "2"), ("renewalperiod", "14"),
                            ("reservesallowed", "10"), ("holds_per_record", "1"), ("maxissueqty", "30"),
                            ("onshelfholds", "1")):
            session.add(CirculationRule(rule_name=name, rule_value=value))
        session.add(CirculationRule(itemtype="DVD", rule_name="issuelength", rule_value="7"))
        session.add(CirculationRule(itemtype="DVD", rule_name="renewalsallowed", rule_value="1"))
    session.flush()


def generate_patrons(session: Session, count: int, seed: int = 1) -> list[Patron]:
    rng = random.Random(seed + 7919)
    today = dt.date.today()
    patrons = []
    existing = {c for (c,) in session.execute(select(Patron.cardnumber))}
    for n in range(1, count + 1):
        cardnumber = f"2{n:09d}"
        if cardnumber in existing:
            continue
        surname, forename = rng.choice(SURNAMES), rng.choice(FORENAMES)
        patron = Patron(cardnumber=cardnumber, userid=f"patron{n}", surname=surname, firstname=forename,
                        email=f"patron{n}@example.org", branchcode=rng.choice(LIBRARIES)[0],
                        categorycode=rng.choice(["PT", "PT", "ST", "K"]), address=f"{rng.randint(1, 200)} Main Street",
                        city=rng.choice(PLACES), zipcode=f"{rng.randint(10000, 99999)}",
                        dateenrolled=today - dt.timedelta(days=rng.randint(0, 2000)),
                        dateexpiry=today + dt.timedelta(days=rng.randint(-30, 700)))
        session.add(patron)
        patrons.append(patron)
    session.flush()
    return patrons
