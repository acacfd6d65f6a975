"""The web UI's words in Arabic (right to left), French and English, and how a page picks its language."""

from __future__ import annotations

from typing import Final

LANGUAGES: Final = ("ar", "fr", "en")
LANGUAGE_NAMES: Final = {"ar": "العربية", "fr": "Français", "en": "English"}

# key: (English, French, Arabic)
MESSAGES: Final[dict[str, tuple[str, str, str]]] = {
    "app_title": ("Commitment tracker", "Suivi des engagements", "متابعة الالتزامات"),
    "dashboard": ("Dashboard", "Tableau de bord", "لوحة القيادة"),
    "agreements": ("Agreements", "Conventions", "الاتفاقيات"),
    "agreement": ("Agreement", "Convention", "الاتفاقية"),
    "overdue": ("Overdue", "En retard", "متأخرة"),
    "overdue_commitments": ("Overdue commitments", "Engagements en retard", "الالتزامات المتأخرة"),
    "audit": ("Audit", "Audit", "التدقيق"),
    "funding": ("Funding", "Financement", "التمويل"),
    "allocated": ("Allocated", "Alloué", "المبلغ المخصص"),
    "disbursed": ("Disbursed", "Décaissé", "المبلغ المصروف"),
    "currency": ("Currency", "Devise", "العملة"),
    "sign_in": ("Sign in", "Se connecter", "تسجيل الدخول"),
    "sign_out": ("Sign out", "Se déconnecter", "تسجيل الخروج"),
    "token": ("Token", "Jeton", "الرمز"),
    "sign_in_help": ("Paste the token you were given (from `commitments users add`).",
                     "Collez le jeton qui vous a été remis (par `commitments users add`).",
                     "الصق الرمز الذي سُلِّم إليك (من `commitments users add`)."),
    "bad_token": ("This token is unknown or revoked.", "Ce jeton est inconnu ou révoqué.", "هذا الرمز غير معروف أو ملغى."),
    "csrf_failed": ("The form expired; please try again.", "Le formulaire a expiré ; veuillez réessayer.",
                    "انتهت صلاحية النموذج؛ يرجى المحاولة مرة أخرى."),
    "signed_in_as": ("Signed in as", "Connecté en tant que", "متصل باسم"),
    "ref": ("Reference", "Référence", "المرجع"),
    "title": ("Title", "Intitulé", "العنوان"),
    "kind": ("Kind", "Type", "النوع"),
    "status": ("Status", "Statut", "الحالة"),
    "signed_on": ("Signed on", "Signée le", "تاريخ التوقيع"),
    "term": ("Term", "Durée", "المدة"),
    "ends_on": ("Term ends", "Fin", "تاريخ الانتهاء"),
    "parties": ("Parties", "Parties", "الأطراف"),
    "milestones": ("Milestones", "Jalons", "المراحل"),
    "milestones_open": ("Open milestones", "Jalons ouverts", "المراحل المفتوحة"),
    "next_due": ("Next due", "Prochaine échéance", "الاستحقاق التالي"),
    "milestone": ("Milestone", "Jalon", "المرحلة"),
    "due_on": ("Due", "Échéance", "تاريخ الاستحقاق"),
    "original_due_on": ("Planned", "Prévu", "المخطط"),
    "completed_on": ("Completed on", "Achevé le", "تاريخ الإنجاز"),
    "responsible": ("Responsible", "Responsable", "المسؤول"),
    "percent": ("Progress", "Avancement", "نسبة التقدم"),
    "days_overdue": ("Days overdue", "Jours de retard", "أيام التأخير"),
    "history": ("History", "Historique", "السجل"),
    "version": ("Version", "Version", "الإصدار"),
    "event": ("Event", "Événement", "الحدث"),
    "recorded_at": ("Recorded", "Enregistré le", "تاريخ التسجيل"),
    "effective_on": ("Effective", "Effectif le", "تاريخ السريان"),
    "actor": ("Actor", "Acteur", "الفاعل"),
    "details": ("Details", "Détails", "التفاصيل"),
    "timeline_chart": ("Milestones: planned and actual dates", "Jalons : dates prévues et réelles",
                       "المراحل: التواريخ المخططة والفعلية"),
    "funding_chart": ("Funding: allocated and disbursed", "Financement : alloué et décaissé",
                      "التمويل: المخصص والمصروف"),
    "planned_original": ("Planned (original)", "Prévu (initial)", "المخطط (الأصلي)"),
    "due_now": ("Due now", "Échéance actuelle", "الاستحقاق الحالي"),
    "actual": ("Completed", "Réalisé", "المنجز"),
    "report_progress": ("Report progress", "Signaler l'avancement", "الإبلاغ عن التقدم"),
    "complete_milestone": ("Complete with evidence", "Achever avec preuve", "الإنجاز مع الدليل"),
    "reschedule": ("Reschedule", "Reporter", "إعادة الجدولة"),
    "note": ("Note", "Note", "ملاحظة"),
    "evidence": ("Evidence", "Preuve", "الدليل"),
    "reason": ("Reason", "Motif", "السبب"),
    "new_due_on": ("New due date", "Nouvelle échéance", "تاريخ الاستحقاق الجديد"),
    "submit": ("Record", "Enregistrer", "تسجيل"),
    "as_of": ("As of", "À la date du", "بتاريخ"),
    "show": ("Show", "Afficher", "عرض"),
    "verification": ("Integrity verification", "Vérification de l'intégrité", "التحقق من السلامة"),
    "chain_ok": ("Every hash chain is intact.", "Toutes les chaînes de hachage sont intactes.",
                 "جميع سلاسل التجزئة سليمة."),
    "chain_broken": ("Problems were found.", "Des problèmes ont été détectés.", "تم العثور على مشاكل."),
    "agreements_checked": ("Agreements checked", "Conventions vérifiées", "الاتفاقيات المفحوصة"),
    "events_checked": ("Events checked", "Événements vérifiés", "الأحداث المفحوصة"),
    "problems": ("Problems", "Problèmes", "المشاكل"),
    "no_funding": ("No funding recorded yet.", "Aucun financement enregistré pour l'instant.", "لم يُسجَّل أي تمويل بعد."),
    "no_overdue": ("Nothing is overdue.", "Aucun engagement en retard.", "لا توجد التزامات متأخرة."),
    "saved": ("Recorded.", "Enregistré.", "تم التسجيل."),
    "read_only": ("Your role reads only; it cannot record facts.", "Votre rôle est en lecture seule.",
                  "دورك للقراءة فقط ولا يسمح بالتسجيل."),
    "not_your_agreement": ("Your organisation is not a party to this agreement; you can read it but not record facts.",
                           "Votre organisation n'est pas partie à cette convention : lecture seule.",
                           "مؤسستك ليست طرفا في هذه الاتفاقية: القراءة فقط."),
    "language": ("Language", "Langue", "اللغة"),
    "total": ("Total", "Total", "المجموع"),
    "today": ("Today", "Aujourd'hui", "اليوم"),
    "not_found": ("Not found", "Introuvable", "غير موجود"),
    "error": ("Error", "Erreur", "خطأ"),
    "back": ("Back", "Retour", "رجوع"),
    "status_active": ("active", "active", "سارية"),
    "status_terminated": ("terminated", "résiliée", "منتهية بالفسخ"),
    "status_completed": ("completed", "achevé", "منجز"),
    "status_planned": ("planned", "prévu", "مخطط"),
    "status_in_progress": ("in progress", "en cours", "قيد الإنجاز"),
    "status_cancelled": ("cancelled", "annulé", "ملغى"),
    "status_overdue": ("overdue", "en retard", "متأخر"),
}


def normalise(language: str | None, default: str = "fr") -> str:
    return language if language in LANGUAGES else default


def direction(language: str) -> str:
    return "rtl" if language == "ar" else "ltr"


def translate(language: str, key: str) -> str:
    """The message in the language; an unknown key is shown as itself, so a missing word is visible, not fatal."""
    entry = MESSAGES.get(key)
    if entry is None:
        return key
    return entry[("en", "fr", "ar").index(normalise(language))]
