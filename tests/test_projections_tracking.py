"""Each view class passes the eventsourcing library's own TrackingRecorderTestCase, on SQLite and PostgreSQL."""

from __future__ import annotations

import tempfile
from pathlib import Path

from eventsourcing.persistence import TrackingRecorder
from eventsourcing.tests import persistence as library_tests
from sqlalchemy import Engine

from app.ledger import sqlalchemy_url
from projections.database import create_views_engine
from projections.views import ActivityView, AgreementsView, FundingView, MilestonesView, PortfolioView, View
from tests.conftest import create_postgres_database, drop_postgres_database


class SQLiteViewTracking(library_tests.TrackingRecorderTestCase):
    view_class: type[View] = AgreementsView
    __test__ = False

    def setUp(self) -> None:
        self.directory = tempfile.TemporaryDirectory()
        self.engine = self.make_engine(f"sqlite:///{Path(self.directory.name) / 'views.db'}")

    def make_engine(self, url: str) -> Engine:
        return create_views_engine(sqlalchemy_url(url))

    def tearDown(self) -> None:
        self.engine.dispose()
        self.directory.cleanup()

    def create_recorder(self) -> TrackingRecorder:
        view = self.view_class(self.engine)
        view.create_tables()
        return view


class PostgresViewTracking(library_tests.TrackingRecorderTestCase):
    view_class: type[View] = AgreementsView
    __test__ = False

    def setUp(self) -> None:
        self.url = create_postgres_database()
        self.engine = create_views_engine(sqlalchemy_url(self.url))

    def tearDown(self) -> None:
        self.engine.dispose()
        drop_postgres_database(self.url)

    def create_recorder(self) -> TrackingRecorder:
        view = self.view_class(self.engine)
        view.create_tables()
        return view


for _view in (AgreementsView, MilestonesView, FundingView, PortfolioView, ActivityView):
    for _base in (SQLiteViewTracking, PostgresViewTracking):
        _name = f"Test{_view.__name__}{_base.__name__}"
        globals()[_name] = type(_name, (_base,), {"view_class": _view, "__test__": True})
