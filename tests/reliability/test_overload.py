"""Twice the service's capacity, sent open-loop through deploy/nginx.conf: what cannot be served is shed at once
with 503, what is served stays fast, and the service is itself again as soon as the load drops.

Capacity is measured in the same run (a closed loop through nginx), so that every figure is a ratio to what this
machine managed just before.
"""
from tests.reliability.harness import SENT_LATE, Load, OpenLoad, p99

PAGE = ("GET", "/api/v1/books?size=20", None, {})
CAPACITY_SECONDS = 4
OVERLOAD_SECONDS = 6
RECOVERY_SECONDS = 1


def page(client, n):
    return PAGE


# Once a non-strict xfail: two CI runs saw a few requests at half capacity shed after the overload (15 of 235, then
# 7 of 234, some more than a second after the drop), and three suite runs failed because the generator could not
# send twice what two workers served. With one worker and no worker replaced midway it passed 12 runs of 12 on two
# machines (2026-12-01); the cause of the first two failures was never shown.
def test_twice_capacity_is_shed_fast_and_the_service_recovers_at_once(database, serve, nginx):
    # One worker: the load comes from this process's threads, on the same two cores, and must reach twice what the
    # service serves; two workers served over 1,100 pages a second here, more than the generator could send twice.
    # Nor is the worker replaced midway: at 750 pages a second this test sends about 9,400, near GUNICORN_MAX_REQUESTS,
    # and with one worker the swap would be a moment of no service, whose shed requests are not the overload's.
    service = serve(database, workers=1, prepare=False, GUNICORN_MAX_REQUESTS=0)
    proxy = nginx([service.port])
    with Load(proxy.port, page, clients=8) as warm_up:
        warm_up.stopping.wait(1)
    with Load(proxy.port, page, clients=8) as closed:
        closed.stopping.wait(CAPACITY_SECONDS)
    capacity = closed.statuses()[200] / CAPACITY_SECONDS

    overload = OpenLoad(proxy.port, page, rate=2 * capacity, seconds=OVERLOAD_SECONDS, max_outstanding=256).run()
    # Few threads, started at once: hundreds would take the generator long enough to start that what fell due
    # meanwhile went out together, a burst of its own making.
    after = OpenLoad(proxy.port, page, rate=capacity / 2, seconds=3, max_outstanding=32).run()

    served = [o for o in overload.outcomes if o.status == 200]
    shed = [o for o in overload.outcomes if o.status == 503]
    print(f"capacity {capacity:.0f}/s; at {2 * capacity:.0f}/s: {overload.statuses()}, {overload.unsent} unsent, "
          f"served {len(served) / OVERLOAD_SECONDS:.0f}/s p99 {p99(served) * 1000:.0f} ms, "
          f"shed {len(shed) / OVERLOAD_SECONDS:.0f}/s p99 {p99(shed) * 1000:.0f} ms, "
          f"slowest {max(o.elapsed for o in overload.outcomes) * 1000:.0f} ms; "
          f"after: {after.statuses()} p99 {p99(after.outcomes) * 1000:.0f} ms, "
          f"{sum(o.detail['late'] > SENT_LATE for o in after.outcomes)} sent late")
    assert set(closed.statuses()) == {200}
    # The generator kept to its rate: the service, not the test, decided what was served.
    assert overload.unsent == 0
    assert set(overload.statuses()) == {200, 503}, overload.statuses()
    # Shed rather than queued. Half would be turned away if capacity held still; on two shared cores it does not
    # (the service has served 1.3x the capacity measured a moment before), so a tenth is what is asked.
    assert len(shed) >= len(overload.outcomes) / 10
    assert p99(shed) < 0.5
    assert p99(served) < 1
    assert max(o.elapsed for o in overload.outcomes) < 5
    # Recovered at once: what was still in flight when the load dropped drains within a second (24 requests'
    # worth of work at most), and from then on every request is served. One the generator sent late, in a burst
    # of its own making after it fell behind (the machine's two cores run it too), may be shed: that is nginx
    # doing its work.
    dropped_at = min(o.started for o in after.outcomes)
    recovered = [o for o in after.outcomes if o.started >= dropped_at + RECOVERY_SECONDS]
    on_time = [o for o in recovered if o.detail["late"] <= SENT_LATE]
    assert len(on_time) >= len(recovered) / 2, f"{len(recovered) - len(on_time)} of {len(recovered)} sent late"
    assert {o.status for o in on_time} == {200}, after.statuses()
