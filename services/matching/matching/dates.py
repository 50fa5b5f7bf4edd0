"""Calendar arithmetic in whole months, the unit both the allocation horizon and age groups use."""
import calendar
from datetime import date


def add_months(day: date, months: int) -> date:
    """`day` moved by whole months; a day missing in the target month becomes its last day (31 Aug + 6 = 28/29 Feb)."""
    index = day.year * 12 + day.month - 1 + months
    year, month = divmod(index, 12)
    month += 1
    return date(year, month, min(day.day, calendar.monthrange(year, month)[1]))


def age_in_months(birth_date: date, on: date) -> int:
    """Completed months of age on `on`; negative when the child is not born yet."""
    months = (on.year - birth_date.year) * 12 + on.month - birth_date.month
    if add_months(birth_date, months) > on:
        months -= 1
    return months
