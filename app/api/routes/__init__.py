"""One router per resource: agreements, milestones, overdue, audit, health."""
