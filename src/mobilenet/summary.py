"""Per-layer accounting of a network: shapes, mult-adds, parameters (the paper's Tables 1, 2, 6, 7)."""
from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any, Dict, Iterable, Iterator, List, Sequence, Tuple

from .graph import Layer
from .vocabulary import LayerType


@dataclass(frozen=True)
class SummaryRow:
    index: int
    name: str
    type: str
    input: Tuple[int, ...]
    output: Tuple[int, ...]
    stride: int
    mult_adds: int
    params: int        # weights, as the paper counts them
    bias_params: int   # biases and batch-norm values, reported apart


def _bias_params(layer: Layer) -> int:
    cout = layer.out_shape[2]
    if layer.has_batch_norm:
        return 4 * cout  # gamma, beta, mean, variance (the folded bias comes from them)
    return cout if layer.type == LayerType.FC else 0


class Summary:
    """Rows per layer plus totals; ``print(summary)`` shows a table."""

    def __init__(self, layers: Sequence[Layer], title: str = ""):
        self.title = title
        self.rows: List[SummaryRow] = [
            SummaryRow(i, layer.name, layer.type, layer.in_shape, layer.out_shape, layer.stride, layer.mult_adds,
                       layer.params, _bias_params(layer))
            for i, layer in enumerate(layers)
        ]

    def __len__(self) -> int:
        return len(self.rows)

    def __iter__(self) -> Iterator[SummaryRow]:
        return iter(self.rows)

    def __getitem__(self, i: int) -> SummaryRow:
        return self.rows[i]

    @property
    def total_mult_adds(self) -> int:
        return sum(r.mult_adds for r in self.rows)

    @property
    def total_params(self) -> int:
        return sum(r.params for r in self.rows)

    @property
    def total_bias_params(self) -> int:
        return sum(r.bias_params for r in self.rows)

    def by_type(self) -> Dict[str, Dict[str, float]]:
        """The paper's Table 2: per layer type, its share (%) of mult-adds and of parameters."""
        out: Dict[str, Dict[str, float]] = {}
        for t in LayerType:
            rows = [r for r in self.rows if r.type == t]
            if not rows:
                continue
            ma, pa = sum(r.mult_adds for r in rows), sum(r.params for r in rows)
            out[t] = {"layers": len(rows), "mult_adds": ma, "params": pa,
                      "mult_adds_pct": 100.0 * ma / max(1, self.total_mult_adds),
                      "params_pct": 100.0 * pa / max(1, self.total_params)}
        return out

    def to_dict(self) -> Dict[str, Any]:
        return {"title": self.title, "layers": [asdict(r) for r in self.rows],
                "total_mult_adds": self.total_mult_adds, "total_params": self.total_params,
                "total_bias_params": self.total_bias_params, "by_type": self.by_type()}

    def __str__(self) -> str:
        def shape(s: Iterable[int]) -> str:
            return "x".join(str(v) for v in s)
        head = (f"{'#':>3} {'name':<11} {'type':<10} {'input':>13} {'output':>13} {'s':>2} "
                f"{'mult-adds':>13} {'params':>10}")
        lines = [self.title] if self.title else []
        lines += [head, "-" * len(head)]
        for r in self.rows:
            lines.append(f"{r.index:>3} {r.name:<11} {r.type:<10} {shape(r.input):>13} {shape(r.output):>13} "
                         f"{r.stride:>2} {r.mult_adds:>13,} {r.params:>10,}")
        lines.append("-" * len(head))
        lines.append(f"total: {self.total_mult_adds:,} mult-adds ({self.total_mult_adds / 1e6:.0f}M), "
                     f"{self.total_params:,} parameters ({self.total_params / 1e6:.2f}M), "
                     f"plus {self.total_bias_params:,} bias/batch-norm values")
        lines.append("by type (the paper's Table 2):")
        for t, v in self.by_type().items():
            lines.append(f"  {t:<10} {v['layers']:>3} layers  mult-adds {v['mult_adds_pct']:6.2f}%  "
                         f"params {v['params_pct']:6.2f}%")
        return "\n".join(lines)

    __repr__ = __str__
