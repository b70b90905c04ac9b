"""A user's own model: withdrawals from a shared account, checked-then-done, and a locked twin.

Each task withdraws `amount` if the balance covers it.  In `Account` the check
(a load) and the withdrawal (a sub) are two scheduling points, so two tasks can
both see enough money and both withdraw: the account is overdrawn.  In
`AccountLocked` a mutex makes check and withdrawal one step for other tasks.
The invariant, checked once every task has ended: the balance never goes below 0.
"""
from fuzzmm import Program, Scenario, op

OPENING_BALANCE = 100


class Account(Program):
    name = "account"
    variant = "racy"
    summary = "check the balance, then withdraw: two withdrawals can both pass the check"
    tasks = (2, 3)
    ops_per_task = (1, 2)

    def setup(self, pool):
        self.balance = pool.atomic(OPENING_BALANCE)   # every run starts from this state
        self.lock = pool.mutex()

    @op(amount=[10, 40, 70])
    def withdraw(self, amount):
        if self.balance.load() >= amount:             # a scheduling point: another task may run here
            self.balance.sub(amount)

    def default_scenario(self):
        return Scenario.of([[("withdraw", (70,))], [("withdraw", (70,))]])

    def check(self, scenario):
        balance = self.balance.peek()
        assert balance >= 0, f"the account is overdrawn: balance {balance}"


class AccountLocked(Account):
    variant = "locked"
    summary = "the check and the withdrawal under one mutex"

    def withdraw(self, amount):                       # keeps the @op domain of Account.withdraw
        self.lock.lock()
        if self.balance.load() >= amount:
            self.balance.sub(amount)
        self.lock.unlock()


VARIANTS = {"racy": Account, "locked": AccountLocked}
