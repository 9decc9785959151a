"""issue 4: ledger (accounts, transactions, entries), bets, LMSR markets (positions, trades)

Revision ID: 0100_money
Revises: 0001_core
Create Date: 2026-11-23 09:00:46.732152
"""
from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op


revision: str = '0100_money'
down_revision: str | None = '0001_core'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    
    op.create_table('ledger_accounts',
    sa.Column('id', sa.String(length=80), nullable=False),
    sa.Column('kind', sa.String(length=16), nullable=False),
    sa.Column('participant_id', sa.String(length=32), nullable=True),
    sa.Column('balance', sa.BigInteger(), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.CheckConstraint("kind = 'house' OR balance >= 0", name='ck_ledger_accounts_nonnegative'),
    sa.ForeignKeyConstraint(['participant_id'], ['participants.id'], ),
    sa.PrimaryKeyConstraint('id')
    )
    with op.batch_alter_table('ledger_accounts', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_ledger_accounts_participant_id'), ['participant_id'], unique=False)

    op.create_table('ledger_transactions',
    sa.Column('id', sa.String(length=32), nullable=False),
    sa.Column('kind', sa.String(length=24), nullable=False),
    sa.Column('ref_type', sa.String(length=16), nullable=True),
    sa.Column('ref_id', sa.String(length=32), nullable=True),
    sa.Column('memo', sa.Text(), nullable=False),
    sa.Column('reverses_id', sa.String(length=32), nullable=True),
    sa.Column('created_by', sa.String(length=32), nullable=True),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['created_by'], ['participants.id'], ),
    sa.ForeignKeyConstraint(['reverses_id'], ['ledger_transactions.id'], ),
    sa.PrimaryKeyConstraint('id')
    )
    with op.batch_alter_table('ledger_transactions', schema=None) as batch_op:
        batch_op.create_index('ix_ledger_transactions_ref', ['ref_type', 'ref_id'], unique=False)

    op.create_table('bets',
    sa.Column('id', sa.String(length=32), nullable=False),
    sa.Column('question_id', sa.String(length=32), nullable=False),
    sa.Column('offerer_id', sa.String(length=32), nullable=False),
    sa.Column('counterparty_id', sa.String(length=32), nullable=True),
    sa.Column('taker_id', sa.String(length=32), nullable=True),
    sa.Column('proposition', sa.JSON(), nullable=False),
    sa.Column('offerer_side', sa.String(length=8), nullable=False),
    sa.Column('offerer_stake', sa.BigInteger(), nullable=False),
    sa.Column('taker_stake', sa.BigInteger(), nullable=False),
    sa.Column('expires_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('status', sa.String(length=12), nullable=False),
    sa.Column('offerer_won', sa.Boolean(), nullable=True),
    sa.Column('settlement_txn_id', sa.String(length=32), nullable=True),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('accepted_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('closed_at', sa.DateTime(timezone=True), nullable=True),
    sa.CheckConstraint('offerer_stake > 0 AND taker_stake > 0', name='ck_bets_positive_stakes'),
    sa.ForeignKeyConstraint(['counterparty_id'], ['participants.id'], ),
    sa.ForeignKeyConstraint(['offerer_id'], ['participants.id'], ),
    sa.ForeignKeyConstraint(['question_id'], ['questions.id'], ),
    sa.ForeignKeyConstraint(['settlement_txn_id'], ['ledger_transactions.id'], ),
    sa.ForeignKeyConstraint(['taker_id'], ['participants.id'], ),
    sa.PrimaryKeyConstraint('id')
    )
    with op.batch_alter_table('bets', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_bets_question_id'), ['question_id'], unique=False)
        batch_op.create_index('ix_bets_status', ['status'], unique=False)

    op.create_table('ledger_entries',
    sa.Column('id', sa.Integer(), autoincrement=True, nullable=False),
    sa.Column('transaction_id', sa.String(length=32), nullable=False),
    sa.Column('account_id', sa.String(length=80), nullable=False),
    sa.Column('amount', sa.BigInteger(), nullable=False),
    sa.Column('balance_after', sa.BigInteger(), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['account_id'], ['ledger_accounts.id'], ),
    sa.ForeignKeyConstraint(['transaction_id'], ['ledger_transactions.id'], ),
    sa.PrimaryKeyConstraint('id')
    )
    with op.batch_alter_table('ledger_entries', schema=None) as batch_op:
        batch_op.create_index('ix_ledger_entries_account', ['account_id', 'id'], unique=False)
        batch_op.create_index(batch_op.f('ix_ledger_entries_transaction_id'), ['transaction_id'], unique=False)

    op.create_table('markets',
    sa.Column('id', sa.String(length=32), nullable=False),
    sa.Column('question_id', sa.String(length=32), nullable=False),
    sa.Column('opener_id', sa.String(length=32), nullable=False),
    sa.Column('b', sa.BigInteger(), nullable=False),
    sa.Column('n_outcomes', sa.Integer(), nullable=False),
    sa.Column('outcome_labels', sa.JSON(), nullable=False),
    sa.Column('bucket_edges', sa.JSON(), nullable=True),
    sa.Column('q', sa.JSON(), nullable=False),
    sa.Column('funding', sa.BigInteger(), nullable=False),
    sa.Column('status', sa.String(length=12), nullable=False),
    sa.Column('winning_outcome', sa.Integer(), nullable=True),
    sa.Column('settlement_txn_id', sa.String(length=32), nullable=True),
    sa.Column('trade_count', sa.Integer(), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.CheckConstraint('b > 0 AND funding > 0', name='ck_markets_positive'),
    sa.ForeignKeyConstraint(['opener_id'], ['participants.id'], ),
    sa.ForeignKeyConstraint(['question_id'], ['questions.id'], ),
    sa.ForeignKeyConstraint(['settlement_txn_id'], ['ledger_transactions.id'], ),
    sa.PrimaryKeyConstraint('id')
    )
    with op.batch_alter_table('markets', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_markets_question_id'), ['question_id'], unique=False)

    op.create_table('market_positions',
    sa.Column('market_id', sa.String(length=32), nullable=False),
    sa.Column('participant_id', sa.String(length=32), nullable=False),
    sa.Column('shares', sa.JSON(), nullable=False),
    sa.Column('net_cost', sa.BigInteger(), nullable=False),
    sa.Column('updated_at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['market_id'], ['markets.id'], ),
    sa.ForeignKeyConstraint(['participant_id'], ['participants.id'], ),
    sa.PrimaryKeyConstraint('market_id', 'participant_id')
    )
    op.create_table('market_trades',
    sa.Column('id', sa.Integer(), autoincrement=True, nullable=False),
    sa.Column('market_id', sa.String(length=32), nullable=False),
    sa.Column('participant_id', sa.String(length=32), nullable=False),
    sa.Column('outcome', sa.Integer(), nullable=False),
    sa.Column('shares', sa.BigInteger(), nullable=False),
    sa.Column('amount', sa.BigInteger(), nullable=False),
    sa.Column('prices_after', sa.JSON(), nullable=False),
    sa.Column('transaction_id', sa.String(length=32), nullable=True),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['market_id'], ['markets.id'], ),
    sa.ForeignKeyConstraint(['participant_id'], ['participants.id'], ),
    sa.ForeignKeyConstraint(['transaction_id'], ['ledger_transactions.id'], ),
    sa.PrimaryKeyConstraint('id')
    )
    with op.batch_alter_table('market_trades', schema=None) as batch_op:
        batch_op.create_index('ix_market_trades_market', ['market_id', 'id'], unique=False)

    


def downgrade() -> None:
    
    with op.batch_alter_table('market_trades', schema=None) as batch_op:
        batch_op.drop_index('ix_market_trades_market')

    op.drop_table('market_trades')
    op.drop_table('market_positions')
    with op.batch_alter_table('markets', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_markets_question_id'))

    op.drop_table('markets')
    with op.batch_alter_table('ledger_entries', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_ledger_entries_transaction_id'))
        batch_op.drop_index('ix_ledger_entries_account')

    op.drop_table('ledger_entries')
    with op.batch_alter_table('bets', schema=None) as batch_op:
        batch_op.drop_index('ix_bets_status')
        batch_op.drop_index(batch_op.f('ix_bets_question_id'))

    op.drop_table('bets')
    with op.batch_alter_table('ledger_transactions', schema=None) as batch_op:
        batch_op.drop_index('ix_ledger_transactions_ref')

    op.drop_table('ledger_transactions')
    with op.batch_alter_table('ledger_accounts', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_ledger_accounts_participant_id'))

    op.drop_table('ledger_accounts')
    
