"""Domain operations shared by the back office, the customer site and the API.

Services stage changes in the session and raise ``DomainError``s; callers commit.
"""
