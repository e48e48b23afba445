"""The demo generator's funnel: a daily Markov chain per lead, and the exact truth it implies.

Each lead moves through hidden states on days ``d = 1, 2, ...`` after capture; the move "on day d"
happens at a time in ``(capture + (d-1) days, capture + d days]``. Transition probabilities depend only
on the lead's latent traits, its current state and ``d`` (through the activity profile), never on
realised engagement, so given the latent traits and the state at a snapshot the future is independent
of the past. That makes the truth exact: :func:`compute_truth` propagates each lead's state
distribution day by day with the *same* transition function the simulation samples from.

Hidden states beyond the recorded stages:

- ``SQO_W`` / ``SQO_L``: an opportunity destined to be won / lost (decided on entering SQO).
- ``SQO_H``: an opportunity destined to be won whose SQO entry the CRM never recorded (the gap of a
  WON without SQO).
- ``DORMANT``: a recycled lead that will never come back to MEL (it stays "RECYCLED" in the record).

Drivers (see ``leadscore.features.synthetic.world`` for the latent traits):

- MCL -> MEL: intent above all, scaled by the activity profile (fading interest plus a possible later
  buying window); junk leads (students, interns, competitors) are disqualified over time.
- MEL -> MQL: intent, fit and authority, with intent mattering more for good-fit companies.
- MQL -> SAL (sales review, ~2 days), SAL -> SQL (~5 days), SQL -> SQO (~12 days): fit, authority,
  intent, the unobserved deal quality and their interactions; failures are disqualified or recycled.
- SQO -> WON / LOST: fit, authority, intent, quality, and smaller odds for larger deals.
"""

from __future__ import annotations

from dataclasses import dataclass, fields

import numpy as np

from leadscore.features.synthetic.world import JUNK_COMPETITOR, JUNK_NONE, JUNK_STUDENT, People

STATES = ("MCL", "MEL", "MQL", "SAL", "SQL", "SQO_W", "SQO_L", "SQO_H", "WON", "LOST", "RECYCLED", "DORMANT", "DISQUALIFIED")
MCL, MEL, MQL, SAL, SQL, SQO_W, SQO_L, SQO_H, WON, LOST, RECYCLED, DORMANT, DISQ = range(len(STATES))
# What the CRM records on entering each state (None: nothing is recorded).
RECORDED_STAGE = ("MCL", "MEL", "MQL", "SAL", "SQL", "SQO", "SQO", None, "WON", "LOST", "RECYCLED", None, "DISQUALIFIED")
ABSORBING = np.zeros(len(STATES), dtype=bool)
ABSORBING[[WON, LOST, DORMANT, DISQ]] = True
TRANSIENT = tuple(s for s in range(len(STATES)) if not ABSORBING[s])
# States that count as "entered SQO (or WON)" for the SQO label, once entered never left.
SQO_OR_LATER = (SQO_W, SQO_L, WON, LOST)
ACTIVE_DAYS = 360  # marketing-stage interest ends a year after capture

# Intercepts calibrated by simulation: two seeds of 60,000 leads, each intercept moved by the logit gap
# between its stage's measured and target conversion until all were within about a point (matured cohort).
C_MEL, C_MQL, C_SAL, C_SQL, C_SQO, C_WON = -3.80, -4.93, 0.17, -2.90, -1.645, -2.69
H_REVIEW, H_SAL, H_SQL = 0.45, 0.145, 0.06  # daily probability of leaving MQL, SAL, SQL
H_CLOSE_WON, H_CLOSE_LOST = 1 / 30, 1 / 45
H_RECYCLE_BACK, H_RECYCLE_DORMANT = 0.035, 0.025
P_SQO_UNRECORDED = 0.05
DQ_JUNK_DAILY, DQ_OTHER_DAILY = 0.012, 0.0003


@dataclass
class ChainParams:
    """Per-lead transition parameters (parallel arrays)."""

    k_mel: np.ndarray
    k_mql: np.ndarray
    dq_mcl: np.ndarray
    dq_mel: np.ndarray
    p_sal: np.ndarray
    p_sql: np.ndarray
    p_sqo: np.ndarray
    p_won: np.ndarray
    tau_days: np.ndarray
    window_start_days: np.ndarray
    window_end_days: np.ndarray
    window_strength: np.ndarray

    def take(self, idx: np.ndarray | None) -> ChainParams:
        if idx is None:
            return self
        return ChainParams(**{f.name: getattr(self, f.name)[idx] for f in fields(self)})


def _sigmoid(x: np.ndarray) -> np.ndarray:
    return 1.0 / (1.0 + np.exp(-x))


def make_chain_params(people: People) -> ChainParams:
    """Transition parameters from the latent traits: where fit, persona and intent drive the funnel."""
    fit, authority, intent, quality = people.fit, people.authority, people.intent, people.quality
    student = people.junk == JUNK_STUDENT
    competitor = people.junk == JUNK_COMPETITOR
    junk = people.junk != JUNK_NONE
    good_fit = np.maximum(fit, 0.0)
    k_mel = np.exp(C_MEL + 0.8 * intent + 0.2 * fit + 0.15 * np.maximum(authority, -1.0))
    k_mql = np.exp(C_MQL + 0.55 * intent + 0.55 * fit + 0.45 * authority + 0.35 * intent * good_fit - 1.0 * student - 1.0 * competitor)
    p_sal = _sigmoid(C_SAL + 0.5 * fit + 0.5 * authority + 0.3 * quality - 3.5 * junk)
    p_sql = _sigmoid(C_SQL + 0.45 * fit + 0.6 * authority + 0.35 * intent + 0.3 * fit * intent + 0.8 * quality)
    p_sqo = _sigmoid(C_SQO + 0.35 * fit + 0.35 * authority + 0.45 * intent + 0.7 * quality + 0.25 * good_fit * np.maximum(authority, 0.0))
    p_won = _sigmoid(C_WON + 0.5 * fit + 0.3 * authority + 0.3 * intent + 0.4 * quality - 0.3 * np.log(people.deal_usd / 14_000))
    dq = np.where(junk, DQ_JUNK_DAILY, DQ_OTHER_DAILY)
    return ChainParams(
        k_mel=k_mel, k_mql=k_mql, dq_mcl=dq, dq_mel=dq, p_sal=p_sal, p_sql=p_sql, p_sqo=p_sqo, p_won=p_won,
        tau_days=people.tau_days, window_start_days=people.window_start_days,
        window_end_days=people.window_start_days + people.window_days, window_strength=people.window_strength,
    )


def activity(params: ChainParams, day: int, idx: np.ndarray | None = None) -> np.ndarray:
    """Marketing activity on ``day``: fading interest after capture plus the buying window, if any."""
    def pick(values: np.ndarray) -> np.ndarray:
        return values if idx is None else values[idx]

    tau = pick(params.tau_days)
    if day > ACTIVE_DAYS:
        return np.zeros(len(tau))
    in_window = (day >= pick(params.window_start_days)) & (day < pick(params.window_end_days))
    return np.exp(-(day - 1) / tau) + pick(params.window_strength) * in_window


def outgoing(
    state: int, params: ChainParams, day: int, idx: np.ndarray | None = None, act: np.ndarray | None = None
) -> list[tuple[int, np.ndarray | float]]:
    """Probabilities of moving from ``state`` to each other state on ``day`` (staying is the rest).

    ``idx`` restricts the answer to some leads; ``act`` passes their :func:`activity` when the caller
    already has it. The simulation samples from these probabilities and the truth propagates them.
    """
    def pick(values: np.ndarray) -> np.ndarray:
        return values if idx is None else values[idx]

    if state in (MCL, MEL):
        k, dq = (params.k_mel, params.dq_mcl) if state == MCL else (params.k_mql, params.dq_mel)
        if act is None:
            act = activity(params, day, idx)
        advance = 1.0 - np.exp(-pick(k) * act)
        disqualify = (1.0 - advance) * (pick(dq) if day <= ACTIVE_DAYS else 0.0)
        return [(state + 1, advance), (DISQ, disqualify)]
    if state == MQL:
        p_sal = pick(params.p_sal)
        fail = H_REVIEW * (1.0 - p_sal)
        return [(SAL, H_REVIEW * p_sal), (DISQ, 0.55 * fail), (RECYCLED, 0.45 * fail)]
    if state == SAL:
        p_sql = pick(params.p_sql)
        fail = H_SAL * (1.0 - p_sql)
        return [(SQL, H_SAL * p_sql), (RECYCLED, 0.6 * fail), (DISQ, 0.4 * fail)]
    if state == SQL:
        p_sqo, p_won = pick(params.p_sqo), pick(params.p_won)
        advance = H_SQL * p_sqo
        fail = H_SQL * (1.0 - p_sqo)
        won = advance * p_won
        return [
            (SQO_W, won * (1.0 - P_SQO_UNRECORDED)), (SQO_H, won * P_SQO_UNRECORDED),
            (SQO_L, advance * (1.0 - p_won)), (DISQ, 0.5 * fail), (RECYCLED, 0.5 * fail),
        ]
    if state in (SQO_W, SQO_H):
        return [(WON, H_CLOSE_WON)]
    if state == SQO_L:
        return [(LOST, H_CLOSE_LOST)]
    if state == RECYCLED:
        return [(MEL, H_RECYCLE_BACK), (DORMANT, H_RECYCLE_DORMANT)]
    return []


@dataclass
class ChainPath:
    """The realised chain: every state change, and each lead's state at the reference snapshot."""

    lead: np.ndarray  # lead number
    day: np.ndarray  # day d of the move: it happens in (capture + (d-1) days, capture + d days]
    state: np.ndarray  # the state entered
    state_at_snapshot: np.ndarray


def simulate_chain(params: ChainParams, last_day: np.ndarray, snapshot_day: int, rng: np.random.Generator) -> ChainPath:
    """Sample every lead's path day by day, up to ``last_day`` per lead (at least ``snapshot_day``).

    Only leads still able to move are visited each day, so the cost follows the live population.
    """
    n = len(last_day)
    horizon = np.maximum(last_day, snapshot_day)
    state = np.zeros(n, dtype=np.int8)
    live = np.arange(n)
    moves_lead, moves_day, moves_state = [], [], []
    snapshot = None
    for day in range(1, int(horizon.max()) + 1):
        current = state[live]
        keep = (horizon[live] >= day) & ~ABSORBING[current] & ~((day > ACTIVE_DAYS) & (current <= MEL))
        live, current = live[keep], current[keep]
        if not len(live):
            break
        u = rng.random(len(live))
        nxt = current.copy()
        for s in TRANSIENT:
            members = np.flatnonzero(current == s)
            if not len(members):
                continue
            us = u[members]
            low = np.zeros(len(members))
            dest = np.full(len(members), s, dtype=np.int8)
            for target, p in outgoing(s, params, day, idx=live[members]):
                high = low + p
                dest[(us >= low) & (us < high)] = target
                low = high
            nxt[members] = dest
        moved = np.flatnonzero(nxt != current)
        moves_lead.append(live[moved])
        moves_day.append(np.full(len(moved), day, dtype=np.int16))
        moves_state.append(nxt[moved])
        state[live] = nxt
        if day == snapshot_day:
            snapshot = state.copy()
    if snapshot is None:
        snapshot = state.copy()
    return ChainPath(
        lead=np.concatenate(moves_lead) if moves_lead else np.zeros(0, dtype=np.int64),
        day=np.concatenate(moves_day) if moves_day else np.zeros(0, dtype=np.int16),
        state=np.concatenate(moves_state) if moves_state else np.zeros(0, dtype=np.int8),
        state_at_snapshot=snapshot,
    )


def compute_truth(
    params: ChainParams,
    start_state: np.ndarray,
    snapshot_day: int,
    horizon_sqo_days: int,
    horizon_won_days: int,
) -> tuple[np.ndarray, np.ndarray]:
    """Exact P(first SQO-or-WON entry within the SQO horizon) and P(first WON within the WON horizon).

    Starts every lead from its realised state at ``snapshot_day`` and applies the simulation's own
    transition probabilities for each later day. NaN where the lead already holds the target.
    """
    p_sqo = np.where(np.isin(start_state, SQO_OR_LATER), np.nan, 0.0)
    p_won = np.where(start_state == WON, np.nan, 0.0)
    # Leads in an absorbing state (won, lost, disqualified, dormant) have nothing left to happen.
    moving = np.flatnonzero(~ABSORBING[start_state])
    params = params.take(moving)
    m = len(moving)
    dist = np.zeros((len(STATES), m))
    dist[start_state[moving], np.arange(m)] = 1.0
    constant = {s: outgoing(s, params, 1) for s in TRANSIENT if s not in (MCL, MEL)}
    sqo_moving = won_moving = np.zeros(m)
    last = snapshot_day + max(horizon_sqo_days, horizon_won_days)
    for day in range(snapshot_day + 1, last + 1):
        act = activity(params, day)
        new = dist.copy()
        for s in TRANSIENT:
            mass = dist[s]
            if not mass.any():
                continue
            for target, p in constant[s] if s in constant else outgoing(s, params, day, act=act):
                flow = mass * p
                new[s] -= flow
                new[target] += flow
        dist = new
        if day == snapshot_day + horizon_sqo_days:
            sqo_moving = dist[list(SQO_OR_LATER)].sum(axis=0)
        if day == snapshot_day + horizon_won_days:
            won_moving = dist[WON].copy()
    p_sqo[moving] = np.where(np.isnan(p_sqo[moving]), np.nan, np.clip(sqo_moving, 0.0, 1.0))
    p_won[moving] = np.where(np.isnan(p_won[moving]), np.nan, np.clip(won_moving, 0.0, 1.0))
    return p_sqo, p_won
