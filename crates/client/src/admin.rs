//! The operator's side of the API (`/v1/admin/…`, the admin token): devices, service accounts,
//! their tokens, unused tokens and the audit log.

use crate::client::{json, send, REQUEST_TIMEOUT};
use crate::{Client, Error};
use callside_proto::admin::{
    CreateDevice, CreateServiceAccount, CreatedDevice, CreatedServiceAccount, Device, Erased,
    PersonalData, RotatedToken, ServiceAccount,
};
use reqwest::Method;
use serde::Deserialize;

#[derive(Deserialize)]
struct DeviceList {
    devices: Vec<Device>,
}

#[derive(Deserialize)]
struct AccountList {
    accounts: Vec<ServiceAccount>,
}

impl Client {
    // ---------------------------------------------------------------- admin: devices

    /// `POST /v1/admin/devices`: create a device; the token in the answer is shown only once.
    pub async fn create_device(&self, device: &CreateDevice) -> Result<CreatedDevice, Error> {
        let req = self
            .request(Method::POST, &["v1", "admin", "devices"])
            .json(device);
        json(send(req, REQUEST_TIMEOUT).await?, "created device").await
    }

    /// `GET /v1/admin/devices`.
    pub async fn list_devices(&self) -> Result<Vec<Device>, Error> {
        let req = self.request(Method::GET, &["v1", "admin", "devices"]);
        let list: DeviceList = json(send(req, REQUEST_TIMEOUT).await?, "device list").await?;
        Ok(list.devices)
    }

    /// `DELETE /v1/admin/devices/{id}`.
    pub async fn delete_device(&self, id: &str) -> Result<(), Error> {
        let req = self.request(Method::DELETE, &["v1", "admin", "devices", id]);
        send(req, REQUEST_TIMEOUT).await.map(drop)
    }

    /// `GET /v1/admin/devices/{id}/export`: everything kept about a device, table by table.
    pub async fn export_device(&self, id: &str) -> Result<PersonalData, Error> {
        let req = self.request(Method::GET, &["v1", "admin", "devices", id, "export"]);
        json(send(req, REQUEST_TIMEOUT).await?, "export").await
    }

    /// `POST /v1/admin/devices/{id}/erase`: erases a device's personal data; what went.
    pub async fn erase_device(&self, id: &str) -> Result<Erased, Error> {
        let req = self.request(Method::POST, &["v1", "admin", "devices", id, "erase"]);
        json(send(req, REQUEST_TIMEOUT).await?, "erasure").await
    }

    /// `GET /v1/me/export`: everything kept about this device.
    pub async fn export_own_data(&self) -> Result<PersonalData, Error> {
        let req = self.request(Method::GET, &["v1", "me", "export"]);
        json(send(req, REQUEST_TIMEOUT).await?, "export").await
    }

    /// `POST /v1/admin/devices/{id}/token`: a new token; the old one stops working.
    pub async fn rotate_device_token(&self, id: &str) -> Result<RotatedToken, Error> {
        let req = self.request(Method::POST, &["v1", "admin", "devices", id, "token"]);
        json(send(req, REQUEST_TIMEOUT).await?, "token").await
    }

    /// `GET /v1/admin/tokens/unused?days=…`: device and service tokens not presented for that
    /// many days (the server's `tokens.unused_after_days` when `None`).
    pub async fn unused_tokens(
        &self,
        days: Option<u32>,
    ) -> Result<callside_proto::admin::UnusedTokens, Error> {
        let req = self
            .request(Method::GET, &["v1", "admin", "tokens", "unused"])
            .query(&[("days", days)]);
        json(send(req, REQUEST_TIMEOUT).await?, "unused tokens").await
    }

    /// `GET /v1/admin/audit?limit=…`: the audit log, newest first.
    pub async fn audit_log(&self, limit: u32) -> Result<callside_proto::admin::AuditLog, Error> {
        let req = self
            .request(Method::GET, &["v1", "admin", "audit"])
            .query(&[("limit", limit)]);
        json(send(req, REQUEST_TIMEOUT).await?, "audit log").await
    }

    // ---------------------------------------------------------------- admin: service accounts

    /// `POST /v1/admin/service-accounts`: the token in the answer is shown only once.
    pub async fn create_service_account(
        &self,
        account: &CreateServiceAccount,
    ) -> Result<CreatedServiceAccount, Error> {
        let req = self
            .request(Method::POST, &["v1", "admin", "service-accounts"])
            .json(account);
        json(send(req, REQUEST_TIMEOUT).await?, "created service account").await
    }

    /// `GET /v1/admin/service-accounts`.
    pub async fn list_service_accounts(&self) -> Result<Vec<ServiceAccount>, Error> {
        let req = self.request(Method::GET, &["v1", "admin", "service-accounts"]);
        let list: AccountList =
            json(send(req, REQUEST_TIMEOUT).await?, "service account list").await?;
        Ok(list.accounts)
    }

    /// `DELETE /v1/admin/service-accounts/{id}`.
    pub async fn delete_service_account(&self, id: &str) -> Result<(), Error> {
        let req = self.request(Method::DELETE, &["v1", "admin", "service-accounts", id]);
        send(req, REQUEST_TIMEOUT).await.map(drop)
    }

    /// `POST /v1/admin/service-accounts/{id}/token`.
    pub async fn rotate_service_account_token(&self, id: &str) -> Result<RotatedToken, Error> {
        let req = self.request(
            Method::POST,
            &["v1", "admin", "service-accounts", id, "token"],
        );
        json(send(req, REQUEST_TIMEOUT).await?, "token").await
    }
}
