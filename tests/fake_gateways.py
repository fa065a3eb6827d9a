"""Fake WeChat Pay and Alipay servers for the live-mode tests: they check each
request's signature as the real gateways do, record what was asked, and
answer with what the test scripted, signed by the platform's key."""
import json
import time

import tornado.web

from domain.errors import InvalidSignature
from server.gateways.alipay import parse_form
from server.gateways.sandbox import AlipayPlatform, WechatPlatform


class FakeGateways:
    def __init__(self, wechat: WechatPlatform, merchant_key, merchant_serial: str,
                 alipay: AlipayPlatform, app_key):
        self.wechat, self.merchant_key, self.merchant_serial = wechat, merchant_key, merchant_serial
        self.alipay, self.app_key = alipay, app_key
        self.wechat_signer, self.alipay_signer = wechat, alipay  # swapped to sign with a wrong key
        self.requests: list[tuple[str, dict]] = []               # (path or method, what was sent)
        self.answers: dict[str, tuple[int, dict] | dict] = {}    # WeChat: path → (status, body); Alipay: method → node

    def app(self) -> tornado.web.Application:
        return tornado.web.Application([(r"/v3/.*", WechatPayApi, {"fake": self}),
                                        (r"/gateway\.do", AlipayApi, {"fake": self})])


def now_ms() -> int:
    return int(time.time() * 1000)


class WechatPayApi(tornado.web.RequestHandler):
    def initialize(self, fake: FakeGateways):
        self.fake = fake

    def get(self):
        self.serve()

    def post(self):
        self.serve()

    def serve(self):
        fake, request = self.fake, self.request
        try:
            fake.wechat.check_authorization(request.method, request.uri, request.headers, request.body,
                                            fake.merchant_key, fake.merchant_serial, fake.wechat.mchid, now_ms())
        except InvalidSignature as exc:
            return self.reply(401, {"code": "SIGN_ERROR", "message": exc.message})
        fake.requests.append((request.path, json.loads(request.body) if request.body else dict(
            (k, v[-1].decode()) for k, v in request.query_arguments.items())))
        self.reply(*fake.answers.get(request.path, (404, {"code": "ORDER_NOT_EXIST", "message": "订单不存在"})))

    def reply(self, status: int, answer: dict):
        body = json.dumps(answer, ensure_ascii=False).encode()
        self.set_status(status)
        for name, value in self.fake.wechat_signer.signed(body, now_ms()).items():
            self.set_header(name, value)
        self.set_header("Content-Type", "application/json")
        self.finish(body)


class AlipayApi(tornado.web.RequestHandler):
    def initialize(self, fake: FakeGateways):
        self.fake = fake

    def post(self):
        fake = self.fake
        params = {**parse_form(self.request.query), **parse_form(self.request.body)}
        method = params.get("method", "")
        self.set_header("Content-Type", "application/json;charset=utf-8")
        try:
            AlipayPlatform.check_request(params, fake.app_key, fake.alipay.app_id)
        except InvalidSignature:
            refusal = {"code": "40002", "msg": "Invalid Arguments", "sub_code": "isv.invalid-signature"}
            return self.finish(json.dumps({method.replace(".", "_") + "_response": refusal}))
        fake.requests.append((method, {**params, "biz_content": json.loads(params["biz_content"])}))
        self.finish(fake.alipay_signer.answer(method, fake.answers[method]))
