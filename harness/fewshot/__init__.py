"""Few-shot prompting: k solved examples ("exemplars") put before each item.

    config.py    the `fewshot:` block of a suite YAML and the --num-fewshot / --fewshot-data flags
    pool.py      where exemplars come from (the suite's own pool, a --fewshot-data file, or the
                 evaluated data itself) and the "pool smaller than k" check
    sampling.py  which k exemplars an item gets: seeded by the run seed and the item id, never the
                 item itself or an item on the same passage
    render.py    how they are shown: plain text joined by the delimiter, or one user and one
                 assistant turn each for chat presets; the protocol-id part; the extra stop string

Suite kinds read their own pool files and render exemplars with their own template; this package
owns the rules every suite shares, so `squad`, `truthfulqa_mc` and `bbq` follow them alike.
"""

from harness.fewshot.config import FewshotConfig, fewshot_config
from harness.fewshot.pool import Pool, load_pool
from harness.fewshot.render import Shot, history, next_shot_stop, plain_prompt, protocol_part
from harness.fewshot.sampling import choose, draw

__all__ = [
    "FewshotConfig",
    "Pool",
    "Shot",
    "choose",
    "draw",
    "fewshot_config",
    "history",
    "load_pool",
    "next_shot_stop",
    "plain_prompt",
    "protocol_part",
]
