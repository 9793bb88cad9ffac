"""The tracked story's schema: actors, claims, topic terms, exclusions, figure kinds, known facts.

A story is one TOML file under `config/stories/`; `config.py` reads and validates it into a
`Story`. Everything the matcher (`match.py`) and the extractor (`extract.py`) know about the
story comes from here, so a user replaces the story by editing config alone.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


def _no_empty_names(cls: type, v: list[str]) -> list[str]:
    if any(not a.strip() for a in v):
        raise ValueError("aliases must not be empty strings")
    return v


class Actor(Strict):
    id: str = Field(pattern=r"^[a-z0-9_]+$", description="Stable id, used in labels and alerts.")
    name: str = Field(description="Display name.")
    aliases: list[str] = Field(default_factory=list, description="Other names, titles, scripts.")
    ambiguous: list[str] = Field(
        default_factory=list,
        description="Aliases that count only in story context (a bare surname, a place).",
    )
    kind: str = Field(default="person", description="person | institution")
    lookalikes: list[str] = Field(
        default_factory=list,
        description="Other people or things whose names contain an alias (Jill Biden, Robert Hur): "
        "an alias found inside one of them does not count.",
    )

    _non_empty = field_validator("aliases", "ambiguous", "lookalikes")(_no_empty_names)


class Speaker(Strict):
    """A government or body whose statements matter but who is too common to be a story actor.

    Speakers never make an item relevant and are not matched actors; in a relevant item,
    extract.py attributes a statement to one (as `other:{name}`) when no tracked actor speaks.
    """

    name: str = Field(description="Display and label name: 'US government'.")
    aliases: list[str] = Field(
        default_factory=list, description="How news names it as a speaker: 'US', 'Washington', 'US officials'."
    )
    actors: list[str] = Field(
        default_factory=list,
        description="Ids of tracked actors who speak for it (its president, its agencies): in an item where "
        "one of them speaks, 'Seoul says' in the title is their statement, not another one.",
    )

    _non_empty = field_validator("aliases")(_no_empty_names)


class Claim(Strict):
    id: str = Field(pattern=r"^[a-z0-9_]+$")
    description: str
    terms: list[str] = Field(default_factory=list, description="Phrases that signal the claim.")
    denial_terms: list[str] = Field(
        default_factory=list, description="Phrases that, near the claim, deny it."
    )
    weight: float = Field(
        default=0, ge=0, le=100, description="Points the claim adds to the relevance score when found."
    )


class FigureKind(Strict):
    """A kind of number the story tracks; the grammar that ties a number to a kind is in figures.py.

    A number is of this kind when the clause ties it to the kind: a `heads` phrase before it
    ("death toll rises to 158"), one of `verbs` as its own predicate ("95 people killed", "floods
    kill 95", "158 deaths") or, for a kind without verbs, one of `nouns` after it ("10,000
    troops"); it is about one of `subjects` (not `other_subjects`), and, if `context` is given,
    a context term is in its clause. `series` says how values follow each other (novelty.py).
    """

    id: str = Field(pattern=r"^[a-z0-9_]+$")
    description: str
    label: str = Field(default="", description="Short name for alerts: 'NK troops in Kursk'.")
    nouns: list[str] = Field(default_factory=list, description="What is counted: troops, soldiers.")
    context: list[str] = Field(default_factory=list, description="Where/which: Russia, Kursk.")
    subjects: list[str] = Field(
        default_factory=list, description="Whose: 'North Korean', 'Pyongyang'. Required near the number."
    )
    other_subjects: list[str] = Field(
        default_factory=list, description="Nations that rule a number out: 'Russian', 'Ukrainian'."
    )
    disagree_days: float = Field(
        default=3, ge=0, description="Different values from other sources within this many days disagree."
    )
    verbs: list[str] = Field(
        default_factory=list,
        description="Predicates that make a number this kind, every form news uses: 'killed', 'kill', 'kills', "
        "'died', 'dead', 'deaths'. With verbs, the number's own predicate decides between kinds that count the "
        "same nouns ('95 people killed and 30 missing'); a number whose noun is not one of `nouns` is not this kind.",
    )
    heads: list[str] = Field(
        default_factory=list,
        description="Nouns a number is the value of, before it through a verb or preposition: 'death toll' "
        "('the death toll rose to 158', 'a death toll of 158'). 'number of' + a verb or noun of the kind is a head too.",
    )
    series: Literal["level", "cumulative", "per_event"] = Field(
        default="level",
        description="level: can go either way (troops deployed); cumulative: only rises (a death toll), so a "
        "lower or rounded-down later value is stale or a subtotal, not news; per_event: each event has its own "
        "count (deaths in one strike), every new value is news.",
    )
    measures: dict[str, list[str]] = Field(
        default_factory=dict,
        description="What a figure of this kind measures, by the words of its clause: {killed = ['killed', "
        "'dead'], wounded = ['wounded']}. Figures of one kind and different measures are different series.",
    )


class KnownFigure(Strict):
    """A figure already known when tracking began: the same value again is not an alert."""

    kind: str = Field(description="A figure kind id from [[figures]].")
    value: int = Field(description="The number (the low end of a range).")
    measure: str | None = Field(default=None, description="One of the kind's `measures`, if it has them.")
    qualifier: Literal["about", "at least", "up to", "more than", "exact"] | None = Field(
        default=None, description="about | at least | up to | more than | exact")
    source: str | None = Field(default=None, description="Who gave it: an actor id, or other:NAME (a speaker).")
    date: str | None = Field(default=None, description="When it was given, YYYY-MM-DD.")


class KnownStatement(Strict):
    """A statement already known when tracking began: the same statement again is not an alert."""

    actor: str = Field(description="An actor id, or other:NAME for a [[speakers]] name or alias.")
    text: str = Field(description="What was said, in a few words.")
    date: str | None = Field(default=None, description="When, YYYY-MM-DD; with `claim` and `stance`, later "
                             "statements on that claim with that stance are the same for a few days.")
    claim: str | None = Field(default=None, description="A claim id from [[claims]].")
    stance: Literal["confirms", "denies"] | None = Field(default=None, description="confirms | denies")


class Known(Strict):
    figures: list[KnownFigure] = Field(default_factory=list)
    statements: list[KnownStatement] = Field(default_factory=list)


class Concept(Strict):
    """One idea the story is about ("North Korea", "troops", "Russia or the war"), with its words."""

    id: str = Field(pattern=r"^[a-z0-9_]+$")
    terms: list[str] = Field(min_length=1, description="Words and phrases that express it.")
    weight: float = Field(default=0, ge=0, le=100, description="Points it adds to the relevance score.")
    required: bool = Field(default=False, description="No item is relevant without it.")
    plural_only: list[str] = Field(
        default_factory=list,
        description="Plural terms whose singular means something else ('forces' are troops; a treaty "
        "'enters into force'): the singular found in the text is shown but does not count.",
    )

    @model_validator(mode="after")
    def _plural_only_are_terms(self) -> "Concept":
        for t in self.plural_only:
            if t not in self.terms or not t.endswith("s"):
                raise ValueError(f"plural_only: {t!r} must be one of the concept's terms, ending in 's'")
        return self


class Matching(Strict):
    threshold: float = Field(default=75.0, ge=0, le=100, description="Relevance score to match.")
    fuzzy_min: float = Field(default=88.0, ge=50, le=100, description="Minimum alias similarity.")
    fuzzy_min_length: int = Field(
        default=5, ge=1, description="Aliases shorter than this (letters) match exactly or by spelling key only."
    )
    spread: float = Field(
        default=0.5, ge=0, le=1,
        description="Share of a concept's weight it earns when found outside the item's best sentence.",
    )


class Story(Strict):
    id: str = Field(pattern=r"^[a-z0-9_-]+$")
    title: str
    description: str = ""
    topic: list[str] = Field(
        default_factory=list,
        description="Terms that place an item in the story. Filled with every concept term when "
        "[[concepts]] are given; without concepts they form one concept of weight 100.",
    )
    concepts: list[Concept] = Field(default_factory=list, description="What the story is about, weighted.")
    exclude: list[str] = Field(default_factory=list, description="Terms that rule an item out.")
    matching: Matching = Field(default_factory=Matching)
    actors: list[Actor] = Field(default_factory=list)
    claims: list[Claim] = Field(default_factory=list)
    speakers: list[Speaker] = Field(
        default_factory=list, description="Governments and bodies quoted as speakers, never as actors."
    )
    figures: list[FigureKind] = Field(default_factory=list)
    known: Known = Field(default_factory=Known)

    @model_validator(mode="before")
    @classmethod
    def _topic_from_concepts(cls, data: Any) -> Any:
        """`topic` lists every concept term, so other stages can ask "is this on the story?"."""
        if isinstance(data, dict) and isinstance(data.get("concepts"), list):
            topic = list(data.get("topic") or [])
            for concept in data["concepts"]:
                terms = concept.get("terms") if isinstance(concept, dict) else None
                if isinstance(terms, list):
                    topic += [t for t in terms if isinstance(t, str) and t not in topic]
            data = {**data, "topic": topic}
        return data

    def actor(self, actor_id: str) -> Actor | None:
        return next((a for a in self.actors if a.id == actor_id), None)

    def speaker_ref(self, ref: str) -> str | None:
        """`other:NAME` for the speaker whose name or alias is NAME (any case), else None: known
        entries may name a speaker as the alerts do ("other:US government") or by an alias."""
        name = ref.removeprefix("other:").casefold()
        if not ref.startswith("other:"):
            return None
        sp = next((sp for sp in self.speakers if name in {x.casefold() for x in (sp.name, *sp.aliases)}), None)
        return f"other:{sp.name}" if sp else None
