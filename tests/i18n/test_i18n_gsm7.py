"""GSM-7 awareness: the alphabet, segment counts (160/153, extension chars double; UCS-2 70/67)."""
import pytest
from hypothesis import given
from hypothesis import strategies as st

from gateway.i18n import fit_sms, is_gsm7, sms_segments, to_gsm7
from gateway.i18n.gsm7 import BASIC, EXTENSION


def test_the_tables():
    assert len(BASIC) == 127  # 128 codes, less the escape to the extension table
    assert EXTENSION == set("\f^{}\\[~]|€")
    assert is_gsm7("Reminder: pick up your medicine on Tue 25 Nov. @£$¥èéùìòÇØøÅåΔ_ÆæßÉ¡¿ÄÖÑÜ§äöñüà")
    for ch in "ãõçíóúâêôáÀ`’“😀":
        assert not is_gsm7(ch), ch


@pytest.mark.parametrize("length,segments", [(0, 1), (1, 1), (160, 1), (161, 2), (306, 2), (307, 3), (459, 3),
                                             (460, 4)])
def test_gsm7_segments(length, segments):
    assert sms_segments("a" * length) == segments


def test_extension_characters_count_double():
    assert sms_segments("€" * 80) == 1
    assert sms_segments("€" * 81) == 2
    assert sms_segments("a" * 158 + "[") == 1
    assert sms_segments("a" * 159 + "[") == 2
    # An escape pair never straddles two parts: 152 + a 2-septet char does not fit in the 153 of part one.
    assert sms_segments("a" * 152 + "{" + "a" * 153) == 3
    assert sms_segments("a" * 151 + "{" + "a" * 153) == 2


@pytest.mark.parametrize("length,segments", [(1, 1), (70, 1), (71, 2), (134, 2), (135, 3), (201, 3), (202, 4)])
def test_ucs2_segments(length, segments):
    assert sms_segments("ã" * length) == segments


def test_emoji_takes_two_ucs2_units():
    assert sms_segments("😀" * 35) == 1
    assert sms_segments("😀" * 36) == 2
    assert sms_segments("a" * 66 + "😀" + "a" * 67) == 3  # the surrogate pair stays whole


def test_one_foreign_character_makes_the_whole_message_ucs2():
    assert sms_segments("a" * 100) == 1
    assert sms_segments("a" * 99 + "ç") == 2


def test_to_gsm7_keeps_what_the_alphabet_has_and_drops_only_missing_accents():
    assert to_gsm7("Não, criança, saúde, você, à, é, Ç") == "Nao, crianca, saude, voce, à, é, Ç"
    assert to_gsm7("“quoted” – it’s…") == '"quoted" - it\'s...'
    assert to_gsm7("😀") == "😀"  # nothing to spell it with: left alone


def test_fit_sms_spells_plainly_only_when_that_saves_a_part():
    short = "Os lembretes voltaram. Não falte."
    assert fit_sms(short) == short  # one UCS-2 part already: keeps its accents
    long = "Não vai receber mais lembretes. Para voltar a recebê-los, responda INICIAR."
    assert sms_segments(long) == 2 and fit_sms(long) == to_gsm7(long) and sms_segments(fit_sms(long)) == 1
    assert fit_sms("😀 " + "a" * 100) == "😀 " + "a" * 100  # cannot be GSM-7 at all


@given(st.text(max_size=400))
def test_fit_sms_never_costs_more(text):
    assert sms_segments(fit_sms(text)) <= sms_segments(text)
    assert sms_segments(text) >= 1
