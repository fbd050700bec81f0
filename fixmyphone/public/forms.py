"""Customer-site forms. Rules come from the services; these only parse and label input."""

from __future__ import annotations

from flask_wtf import FlaskForm
from flask_wtf.file import MultipleFileField
from wtforms import (
    BooleanField,
    DateTimeLocalField,
    EmailField,
    HiddenField,
    PasswordField,
    RadioField,
    SelectField,
    StringField,
    TelField,
    TextAreaField,
)
from wtforms.fields.choices import SelectChoice
from wtforms.validators import DataRequired, Email, EqualTo, Length, Optional, ValidationError

from .. import labels
from ..domain_errors import ValidationFailed
from ..forms import strong_password, valid_phone
from ..models import DEVICE_TYPES, NOTIFICATION_CHANNELS
from ..services.accounts import MIN_PASSWORD_LENGTH
from ..services.profiles import NOTIFICATION_KINDS
from ..services.repairs import normalise_imei


def valid_imei(_form, field):
    """WTForms validator backed by the repairs service's IMEI rule (15 digits, Luhn)."""
    try:
        normalise_imei(field.data)
    except ValidationFailed as exc:
        raise ValidationError(exc.message) from None


class RepairRequestForm(FlaskForm):
    """A new repair request; anonymous visitors also log in or sign up in the same POST."""

    device_type = SelectField(
        "Device type",
        choices=[SelectChoice("", "Choose…")]
        + [SelectChoice(key, labels.label(labels.DEVICE, key)) for key in DEVICE_TYPES],
        validators=[DataRequired("Choose the kind of device.")],
    )
    brand = StringField("Brand", validators=[DataRequired("Tell us the brand."), Length(max=60)])
    model = StringField("Model", validators=[DataRequired("Tell us the model."), Length(max=80)])
    imei = StringField("IMEI (optional)", validators=[Optional(), Length(max=20), valid_imei])
    issue_description = TextAreaField(
        "What is wrong?",
        validators=[DataRequired("Tell us what is wrong with the device."), Length(max=5000)],
    )
    photos = MultipleFileField("Photos of the damage (optional)")
    preferred_time = DateTimeLocalField(
        "When would you like to bring it in? (optional)",
        format=["%Y-%m-%dT%H:%M", "%Y-%m-%dT%H:%M:%S"],
        validators=[Optional()],
    )

    # "Your details", only for visitors who are not logged in.
    account_mode = RadioField(
        "Do you have an account with us?",
        choices=[SelectChoice("signup", "No, create one"), SelectChoice("login", "Yes, log me in")],
        default="signup",
    )
    login_email = EmailField("Email", validators=[Optional(), Email(), Length(max=254)])
    login_password = PasswordField("Password", validators=[Optional(), Length(max=128)])
    full_name = StringField("Full name", validators=[Optional(), Length(max=120)])
    email = EmailField("Email", validators=[Optional(), Email(), Length(max=254)])
    phone = TelField("Phone (optional)", validators=[Optional(), Length(max=32), valid_phone])
    password = PasswordField(
        f"Choose a password (at least {MIN_PASSWORD_LENGTH} characters)",
        validators=[Optional(), Length(max=128)],
    )

    def validate_account(self) -> bool:
        """Check the "Your details" part for the chosen mode; errors land on the fields."""
        ok = True
        if self.account_mode.data == "login":
            for field in (self.login_email, self.login_password):
                if not (field.data or "").strip():
                    field.errors.append("This field is required.")
                    ok = False
        else:
            for field in (self.full_name, self.email, self.password):
                if not (field.data or "").strip():
                    field.errors.append("This field is required.")
                    ok = False
            if self.password.data:
                try:
                    strong_password(self, self.password)
                except ValidationError as exc:
                    self.password.errors.append(str(exc))
                    ok = False
        return ok


class TrackForm(FlaskForm):
    """Find a repair with its reference and the email or phone it was booked with."""

    reference = StringField(
        "Repair reference", validators=[DataRequired("Enter your reference."), Length(max=20)]
    )
    contact = StringField(
        "Email or phone number",
        validators=[DataRequired("Enter the email or phone you gave us."), Length(max=254)],
    )


class QuoteDecisionForm(FlaskForm):
    """Approve or decline the shop's estimate (the version the customer read)."""

    decision = HiddenField(validators=[DataRequired()])
    version = HiddenField()

    def validate_version(self, field):
        raw = (field.data or "").strip()
        if raw and not (raw.isascii() and raw.isdigit() and len(raw) <= 6):
            raise ValidationError("Reload the page and decide again.")

    @property
    def version_number(self):
        """The estimate version the page showed, or None (an old page without it)."""
        raw = (self.version.data or "").strip()
        return int(raw) if raw else None

    def validate_decision(self, field):
        if field.data not in ("approve", "decline"):
            raise ValidationError("Choose approve or decline.")


class MessageForm(FlaskForm):
    """A message to the shop about one repair."""

    body = TextAreaField(
        "Your message", validators=[DataRequired("Write a message first."), Length(max=5000)]
    )


class BookingForm(FlaskForm):
    """The chosen slot start (ISO 8601 with offset)."""

    start = HiddenField()


class CancelAppointmentForm(FlaskForm):
    """Cancel a drop-off appointment."""

    reason = StringField("Reason (optional)", validators=[Optional(), Length(max=300)])


class ProfileForm(FlaskForm):
    """Contact details and notification choices."""

    full_name = StringField(
        "Full name", validators=[DataRequired("Tell us your name."), Length(max=120)]
    )
    phone = TelField("Phone", validators=[Optional(), Length(max=32), valid_phone])
    address_line1 = StringField("Address", validators=[Optional(), Length(max=200)])
    address_line2 = StringField("Address line 2", validators=[Optional(), Length(max=200)])
    city = StringField("City", validators=[Optional(), Length(max=100)])
    postal_code = StringField("Postal code", validators=[Optional(), Length(max=20)])
    country = StringField("Country code (e.g. US)", validators=[Optional(), Length(max=2)])
    notify_email = BooleanField("Email me")
    notify_sms = BooleanField("Text me (needs a phone number)")
    notify_in_app = BooleanField("Show notifications on this site")

    def pref_fields(self):
        """(kind, label, [(channel label, field), ...]) rows for the preferences table."""
        rows = []
        for kind, label in NOTIFICATION_KINDS.items():
            cells = [
                (labels.label(labels.CHANNEL, ch), getattr(self, pref_name(kind, ch)))
                for ch in NOTIFICATION_CHANNELS
            ]
            rows.append((kind, label, cells))
        return rows

    def prefs_data(self) -> dict[str, dict[str, bool]]:
        """The per-kind choices as the profiles service stores them."""
        return {
            kind: {
                ch: bool(getattr(self, pref_name(kind, ch)).data) for ch in NOTIFICATION_CHANNELS
            }
            for kind in NOTIFICATION_KINDS
        }


def pref_name(kind: str, channel: str) -> str:
    """The form field name of one kind × channel checkbox."""
    return f"pref_{kind}_{channel}"


for _kind, _label in NOTIFICATION_KINDS.items():
    for _channel in NOTIFICATION_CHANNELS:
        setattr(
            ProfileForm,
            pref_name(_kind, _channel),
            BooleanField(f"{_label}: {labels.label(labels.CHANNEL, _channel)}"),
        )


class PasswordChangeForm(FlaskForm):
    """Change the password; the current one is required."""

    current_password = PasswordField(
        "Current password", validators=[DataRequired("Enter your current password.")]
    )
    new_password = PasswordField(
        f"New password (at least {MIN_PASSWORD_LENGTH} characters)",
        validators=[DataRequired("Choose a new password."), strong_password],
    )
    confirm = PasswordField(
        "Repeat the new password",
        validators=[
            DataRequired("Repeat the new password."),
            EqualTo("new_password", "Passwords differ."),
        ],
    )
