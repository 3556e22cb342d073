from flask_wtf import FlaskForm
from flask_wtf.file import FileField, FileRequired
from wtforms import BooleanField, EmailField, PasswordField, SelectField, StringField, TextAreaField
from wtforms.validators import DataRequired, Email, Length, Optional, ValidationError

from app.accounts.services import name_problem
from app.timezones import timezone_choices

ROLE_CHOICES = [("STUDENT", "Student"), ("TEACHER", "Teacher"), ("ADMIN", "Admin")]


class PersonName:
    """A person's name, by the same rule the services apply (``services.name_problem``), so
    the form shows the message next to the field."""

    def __call__(self, form, field):
        problem = name_problem((field.data or "").strip())
        if problem:
            raise ValidationError(problem)


def _tz_choices():
    return [(z, z.replace("_", " ")) for z in timezone_choices()]


class LoginForm(FlaskForm):
    email = EmailField("Email", validators=[DataRequired(), Length(max=254)])
    password = PasswordField("Password", validators=[DataRequired(), Length(max=200)])
    remember = BooleanField("Remember me on this device")


class ProfileForm(FlaskForm):
    name = StringField("Name", validators=[DataRequired(), Length(max=120), PersonName()])
    timezone = SelectField("Time zone", choices=[], validate_choice=False)

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.timezone.choices = _tz_choices()


class PasswordForm(FlaskForm):
    current_password = PasswordField("Current password", validators=[DataRequired()])
    new_password = PasswordField("New password", validators=[DataRequired()])
    confirm_password = PasswordField("Repeat the new password", validators=[DataRequired()])


class UserForm(FlaskForm):
    name = StringField("Name", validators=[DataRequired(), Length(max=120), PersonName()])
    email = EmailField("Email", validators=[DataRequired(), Email(check_deliverability=False),
                                            Length(max=254)])
    role = SelectField("Role", choices=ROLE_CHOICES)
    timezone = SelectField("Time zone", choices=[], validate_choice=False)
    password = PasswordField("Password", validators=[Optional(), Length(max=200)],
                             description="Leave empty to generate one, shown once.")

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.timezone.choices = [("", "The center's time zone")] + _tz_choices()


class CsvImportForm(FlaskForm):
    file = FileField("CSV file", validators=[FileRequired("Choose a CSV file.")])


class CourseForm(FlaskForm):
    name = StringField("Name", validators=[DataRequired(), Length(max=120)])
    description = TextAreaField("Description", validators=[Optional(), Length(max=2000)])


INVITE_ROLE_CHOICES = [("STUDENT", "Student"), ("TEACHER", "Teacher")]


class InvitePersonForm(FlaskForm):
    """The admin's "Add a person": a center invitation by email (they set their own password)."""

    name = StringField("Name", validators=[Optional(), Length(max=120), PersonName()],
                       description="Suggested on their sign-up page; they can change it.")
    email = EmailField("Email", validators=[DataRequired(), Email(check_deliverability=False),
                                            Length(max=254)])
    role = SelectField("Role", choices=INVITE_ROLE_CHOICES)
    message = TextAreaField("Message (optional)", validators=[Optional(), Length(max=2000)])


class EditPersonForm(FlaskForm):
    name = StringField("Name", validators=[DataRequired(), Length(max=120), PersonName()])
    email = EmailField("Email", validators=[DataRequired(), Email(check_deliverability=False),
                                            Length(max=254)])
    role = SelectField("Role", choices=ROLE_CHOICES)


class ForgotPasswordForm(FlaskForm):
    email = EmailField("Email", validators=[DataRequired(), Length(max=254)])


class ResetPasswordForm(FlaskForm):
    password = PasswordField("New password", validators=[DataRequired(), Length(max=200)])
    confirm = PasswordField("Repeat the new password", validators=[DataRequired(), Length(max=200)])
