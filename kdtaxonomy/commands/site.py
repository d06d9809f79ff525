"""``kdtax site build``: the static HTML site."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Annotated

import typer

from kdtaxonomy.commands.common import fail, get_catalog

site_app = typer.Typer(
    help="The static HTML site of the catalog (works from disk, no network).",
    no_args_is_help=True,
    rich_markup_mode=None,
)


@site_app.command("build")
def site_build_command(
    ctx: typer.Context,
    output: Annotated[
        Path,
        typer.Option("-o", "--output", help="Output folder (replaced whole; only a site built earlier)."),
    ] = Path("site"),
    results: Annotated[
        Path | None, typer.Option("--results", help="Results folder of kdtax bench (default: results/).")
    ] = None,
) -> None:
    """Build the static site: index.html, results.html, benchmark.html, methods/<id>.html, vocab/<step>.html."""
    from kdtaxonomy.bench import load_reproduced
    from kdtaxonomy.benchmark_table import build
    from kdtaxonomy.render.site import SiteError, build_site

    catalog = get_catalog(ctx)
    problems: list[str] = []
    reproduced = load_reproduced(results, problems)
    benchmark = build(results)
    for problem in [*problems, *benchmark.problems]:
        sys.stderr.write(f"warning: {problem}\n")
    try:
        report = build_site(catalog, output, results, reproduced=reproduced, benchmark=benchmark)
    except SiteError as exc:
        fail(str(exc))
    except OSError as exc:
        fail(f"cannot write {output}: {exc.strerror or exc}")
    sys.stdout.write(f"wrote {len(report.pages)} page(s)\n{output / 'index.html'}\n")
