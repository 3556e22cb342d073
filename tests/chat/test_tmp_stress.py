import threading
from tests.chat.test_realtime import Person, db, services, realtime  # noqa

def test_stress(realtime, make):
    chat, a, b = realtime.chat, realtime.a, realtime.b
    gid = chat.group.id
    # more posters: more students in the group
    from app.accounts.models import Role, CourseRole, Enrollment
    extra = []
    for i in range(4):
        u = make.user(chat.center, Role.STUDENT)
        db.session.add(Enrollment(center_id=chat.center.id, course_id=chat.course.id, user_id=u.id, role=CourseRole.STUDENT))
        extra.append(u)
    db.session.commit()
    services.add_group_members(chat.teacher, chat.group, [u.id for u in extra])
    db.session.commit()
    posters = [Person(b if i % 2 else a, u) for i, u in enumerate([chat.teacher, chat.s2] + extra[:2])]
    reader = Person(a, chat.s1)
    sock = realtime.connect(a, reader)
    sock.subscribe(f"thread:{gid}")
    sent = []
    go = threading.Event()
    def run(p):
        go.wait()
        for n in range(8):
            try:
                sent.append(p.post_message(gid, f"x {n}"))
            except Exception as e:
                print("POSTFAIL", str(e)[:100])
    ts = [threading.Thread(target=run, args=(p,)) for p in posters]
    [t.start() for t in ts]; go.set(); [t.join() for t in ts]
    sock.settle(2)
    got = sock.appended_ids(gid)
    import re as _re
    for srv in (a, b):
        txt = srv.log_path.read_text(errors="replace")
        errs = [l for l in txt.splitlines() if _re.search(r"Error|locked|Traceback", l)]
        print("LOG", srv.port, len(errs)); print("\n".join(errs[:30]))
    print("sent", len(sent), "got", len(got), "missing", sorted(set(sent) - set(got)), "ooo", got != sorted(got))
    assert set(got) == set(sent)
