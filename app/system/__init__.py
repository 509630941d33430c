"""Operations routes: health, session, status, setup, metrics, docs."""


def blueprints():
    from . import docs, health, metrics, setup, setup_accounts, status

    return [health.blp, status.blp, setup.blp, setup_accounts.blp, metrics.blp, docs.blp]
