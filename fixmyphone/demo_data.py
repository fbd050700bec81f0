"""What the demo shop is made of: names, devices, issues, parts and the bench work on its
estimates, and a legal path of statuses to each one (``flask seed-demo``, ``flask bench-data``)."""

from __future__ import annotations

from collections import deque

from .models import DeviceType
from .workflow import INITIAL_STATUS, TRANSITIONS

FIRST = "Ava Ben Chloe Dan Emma Finn Grace Hugo Isla Jack Kara Leo Mia Noah Olive Paul Quinn Ruby Sam Tara Uma Vic Will Xena Yara Zoe Amir Bea Cole Dina".split()
LAST = "Smith Jones Brown Garcia Miller Davis Lopez Wilson Moore Taylor Clark Lewis Young King Scott".split()
DEVICES = [
    (DeviceType.PHONE, "Apple", "iPhone 13"),
    (DeviceType.PHONE, "Apple", "iPhone 14 Pro"),
    (DeviceType.PHONE, "Apple", "iPhone 15"),
    (DeviceType.PHONE, "Samsung", "Galaxy S23"),
    (DeviceType.PHONE, "Samsung", "Galaxy A54"),
    (DeviceType.PHONE, "Google", "Pixel 8"),
    (DeviceType.PHONE, "Xiaomi", "Redmi Note 12"),
    (DeviceType.TABLET, "Apple", "iPad Air 5"),
    (DeviceType.TABLET, "Samsung", "Galaxy Tab S8"),
    (DeviceType.SMARTWATCH, "Apple", "Watch Series 8"),
    (DeviceType.LAPTOP, "Apple", "MacBook Air M2"),
    (DeviceType.OTHER, "Nintendo", "Switch OLED"),
]
ISSUES = [
    "Cracked screen after a drop; touch still works in the lower half.",
    "Battery drains in a few hours and the phone gets hot.",
    "Does not charge unless the cable is held at an angle.",
    "Fell in water; turns on but the camera is black.",
    "Speaker crackles during calls, microphone is quiet.",
    "Back glass shattered.",
    "Stuck on the boot logo after an update.",
    "Face ID stopped working.",
]
PART_KINDS = [
    ("SCR", "Screen assembly", 4500, 11900),
    ("BAT", "Battery", 1500, 4900),
    ("CHG", "Charging port flex", 800, 3900),
    ("CAM", "Rear camera module", 2500, 7900),
]
# Estimate lines of the demo repairs: bench time, and now and then a fee or a discount.
LABOUR = ("Diagnosis and repair", "Board-level repair", "Part replacement and testing")


def path_to(target: str) -> list[str]:
    """A legal path of statuses from pending to ``target`` (shortest, via the workflow)."""
    seen, queue = {INITIAL_STATUS: [INITIAL_STATUS]}, deque([INITIAL_STATUS])
    while queue:
        current = queue.popleft()
        for nxt in TRANSITIONS[current]:
            if nxt not in seen:
                seen[nxt] = seen[current] + [nxt]
                queue.append(nxt)
    return seen[target]
