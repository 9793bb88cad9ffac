"""The tracked story's schema: actors, claims, topic terms, exclusions, figure kinds, known facts.

A story is one TOML file under `config/stories/`; `config.py` reads and validates it into a
`Story`. Everything the matcher (`match.py`) and the extractor (`extract.py`) know about the
story comes from here, so a user replaces the story by editing config alone.
"""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field, field_validator


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Actor(Strict):
    id: str = Field(pattern=r"^[a-z0-9_]+$", description="Stable id, used in labels and alerts.")
    name: str = Field(description="Display name.")
    aliases: list[str] = Field(default_factory=list, description="Other names, titles, scripts.")
    ambiguous: list[str] = Field(
        default_factory=list,
        description="Aliases that count only in story context (a bare surname, a place).",
    )
    kind: str = Field(default="person", description="person | institution")

    @field_validator("aliases", "ambiguous")
    @classmethod
    def _non_empty(cls, v: list[str]) -> list[str]:
        for a in v:
            if not a.strip():
                raise ValueError("aliases must not be empty strings")
        return v


class Claim(Strict):
    id: str = Field(pattern=r"^[a-z0-9_]+$")
    description: str
    terms: list[str] = Field(default_factory=list, description="Phrases that signal the claim.")
    denial_terms: list[str] = Field(
        default_factory=list, description="Phrases that, near the claim, deny it."
    )


class FigureKind(Strict):
    id: str = Field(pattern=r"^[a-z0-9_]+$")
    description: str
    nouns: list[str] = Field(default_factory=list, description="What is counted: troops, soldiers.")
    context: list[str] = Field(default_factory=list, description="Where/which: Russia, Kursk.")


class KnownFigure(Strict):
    kind: str
    value: int
    qualifier: str | None = None
    source: str | None = None
    date: str | None = None


class KnownStatement(Strict):
    actor: str
    text: str
    date: str | None = None


class Known(Strict):
    figures: list[KnownFigure] = Field(default_factory=list)
    statements: list[KnownStatement] = Field(default_factory=list)


class Matching(Strict):
    threshold: float = Field(default=50.0, ge=0, le=100, description="Relevance score to match.")
    fuzzy_min: float = Field(default=88.0, ge=50, le=100, description="Minimum alias similarity.")


class Story(Strict):
    id: str = Field(pattern=r"^[a-z0-9_-]+$")
    title: str
    description: str = ""
    topic: list[str] = Field(default_factory=list, description="Terms that place an item in the story.")
    exclude: list[str] = Field(default_factory=list, description="Terms that rule an item out.")
    matching: Matching = Field(default_factory=Matching)
    actors: list[Actor] = Field(default_factory=list)
    claims: list[Claim] = Field(default_factory=list)
    figures: list[FigureKind] = Field(default_factory=list)
    known: Known = Field(default_factory=Known)

    def actor(self, actor_id: str) -> Actor | None:
        return next((a for a in self.actors if a.id == actor_id), None)
